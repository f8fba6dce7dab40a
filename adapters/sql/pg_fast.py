"""PostgreSQL fast paths for the statements every ``loanOffers`` answer runs: constant SQL text,
compiled once, rows sent as one JSON text per table, run on the unit of work's own connection.

Why (measured in ``docs/PERFORMANCE.md``): through the ORM session each statement costs
SQLAlchemy's per-call work (cache key, parameters processed row by row and column by column,
ORM row loading), and a statement filtering on ``IN (:ids)`` has one text per number of ids, so
asyncpg prepared it again (one more round trip, parse and plan on the server) for every group
size on every pooled connection. Here:

* :class:`PgQuery` and :func:`fetch`: a Core ``SELECT`` (written with ``= ANY(:array)`` instead of
  an expanding ``IN``) compiled once to PostgreSQL's text, run on the driver's connection. Inside
  the unit of work's transaction when one is open (it sees that transaction's writes); when none
  is open yet (nothing has been executed in the unit of work), as a statement of its own. At
  READ COMMITTED, which the engine pins (``adapters/sql/database.py``), a statement sees the
  same committed data whether it is the first statement of a transaction or a transaction of its
  own, so a unit of work that only reads (a cache miss) skips ``BEGIN`` and ``ROLLBACK``: two of
  its round trips.

* :class:`RecordsetInsert`: ``INSERT .. SELECT .. FROM json_populate_recordset(NULL::<table>,
  $n::json)`` per table, one text whatever the number of rows (prepared once per connection),
  every row in one JSON text serialised by orjson in one call. It replaced one array per column
  (``unnest``): asyncpg checked every array element against ``collections.abc`` while encoding,
  and the JSON columns took a ``json.dumps`` per value. PostgreSQL reads each value from its
  JSON text with the column type's own input function, so what is stored is what the arrays
  stored (floats: both serialisers write the shortest text that reads back as the same double;
  ``jsonb`` is normalised, so key order and number spelling do not survive either way).
  Inside the unit of work's transaction it runs through SQLAlchemy's connection
  (``exec_driver_sql``: SQLAlchemy begins the transaction and owns it); run with :func:`run`
  with no transaction open, such a statement is its own transaction, committed (durably,
  ``synchronous_commit`` on) when :func:`run` returns (``adapters/sql/offer_set_write.py``).

SQLite keeps the portable statements; the repositories choose (:func:`is_asyncpg`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from asyncpg.exceptions import IntegrityConstraintViolationError
from sqlalchemy import Table
from sqlalchemy.dialects.postgresql.asyncpg import dialect as asyncpg_dialect
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlmodel.ext.asyncio.session import AsyncSession

from adapters.sql.errors import as_unavailable, is_unavailable
from adapters.sql.tables import UtcDateTime
from application.errors import Conflict

_DIALECT = asyncpg_dialect()
#: How SQLAlchemy's asyncpg adapter names the isolation level ``create_engine`` pins.
READ_COMMITTED = "read_committed"


def is_asyncpg(session: AsyncSession) -> bool:
    return session.get_bind().dialect.driver == "asyncpg"


# --- inserts ---------------------------------------------------------------------------------

Rows = Sequence[Mapping[str, Any]]


@dataclass(frozen=True, slots=True)
class RecordsetInsert:
    """``INSERT INTO <table> (<columns>) SELECT <columns> FROM json_populate_recordset(..)``:
    the rows as one JSON array of objects keyed by column name (so the statement does not
    depend on the table's column order)."""

    table: str
    names: tuple[str, ...]
    times: tuple[str, ...]  # ``UtcDateTime`` columns: aware datetimes only

    @classmethod
    def of(cls, table: Table) -> RecordsetInsert:
        return cls(table.name, tuple(c.name for c in table.columns),
                   tuple(c.name for c in table.columns if isinstance(c.type, UtcDateTime)))

    def sql(self, parameter: int = 1, returning: Sequence[str] = ()) -> str:
        names = ", ".join(self.names)
        # ``json``, not ``jsonb``: each value is read from its own text (``-0.0`` stays a
        # negative zero in a float column; a ``jsonb`` number would go through ``numeric``).
        text = (f"INSERT INTO {self.table} ({names}) SELECT {names} "
                f"FROM json_populate_recordset(NULL::{self.table}, ${parameter}::json)")
        return f"{text} RETURNING {', '.join(returning)}" if returning else text

    def payload(self, rows: Rows) -> str:
        """The rows as JSON text. orjson writes aware datetimes in RFC 3339 with their offset;
        a naive one would be read in the server's time zone, so it is refused here as
        ``UtcDateTime`` refuses it. One difference from the arrays: a NaN or infinite float
        becomes ``null`` (a ``NOT NULL`` float column then refuses the row; in a JSON column it
        is stored as ``null``, where ``json.dumps``'s ``NaN`` was refused by ``jsonb``). The
        pricing core produces finite figures only."""
        for row in rows:
            for name in self.times:
                value = row[name]
                if value is not None and value.utcoffset() is None:
                    raise ValueError(f"naive datetime {value!r}: store timezone-aware "
                                     "datetimes only")
        return orjson.dumps(rows).decode()


def as_conflict(exc: IntegrityConstraintViolationError) -> Conflict:
    """A key taken by a concurrent writer, from the driver's own exception (the fast paths
    run beneath SQLAlchemy, whose ``IntegrityError`` the portable paths catch)."""
    return Conflict("the record was written concurrently by another request",
                    constraint=type(exc).__name__)


# --- queries -----------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class PgQuery:
    """A Core statement compiled once for asyncpg: its text and its parameters in order (the
    statement's own constants included)."""

    sql: str
    names: tuple[str, ...]
    defaults: Mapping[str, Any]

    @classmethod
    def of(cls, statement: Any) -> PgQuery:
        compiled = statement.compile(dialect=_DIALECT)
        return cls(compiled.string, tuple(compiled.positiontup or ()), dict(compiled.params))

    def arguments(self, params: Mapping[str, Any]) -> list[Any]:
        return [params[name] if name in params else self.defaults[name] for name in self.names]


_DRIVER = "pg_fast.driver"


async def driver_of(session: AsyncSession) -> tuple[AsyncConnection, Any]:
    """The unit of work's connection and its pool entry (``driver_connection`` is asyncpg's),
    looked up once per session transaction: each lookup is two greenlet switches through
    SQLAlchemy, and a cache miss asked for them three times. The session's transaction object
    identifies the connection (a commit, rollback or close starts another)."""
    cached = session.info.get(_DRIVER)
    if cached is not None and cached[0] is session.sync_session.get_transaction():
        return cached[1], cached[2]
    connection = await session.connection()
    raw = await connection.get_raw_connection()
    session.info[_DRIVER] = (session.sync_session.get_transaction(), connection, raw)
    return connection, raw


async def in_transaction(session: AsyncSession) -> bool:
    """Whether the unit of work's connection has a transaction open (it has written, or read
    inside one)."""
    _connection, raw = await driver_of(session)
    return bool(raw.driver_connection.is_in_transaction())


async def fetch(session: AsyncSession, query: PgQuery, params: Mapping[str, Any]) -> list[Any]:
    """``query``'s rows (asyncpg records), in the unit of work's transaction if one is open."""
    return await run(session, query.sql, query.arguments(params))


async def run(session: AsyncSession, sql: str, arguments: Sequence[Any]) -> list[Any]:
    """``sql``'s rows on the driver: in the unit of work's transaction if one is open, else as
    a statement of its own (which, if it writes, is committed when this returns). A unique-key
    clash is a ``Conflict``; a lost server ``Unavailable`` (the connection is not reused)."""
    connection, raw = await driver_of(session)
    driver = raw.driver_connection
    if not driver.is_in_transaction() and raw.dbapi_connection.isolation_level != READ_COMMITTED:
        # An engine not made by ``create_engine`` (isolation not pinned): no statement outside
        # the unit of work's transaction, so begin it the usual way first.
        await connection.exec_driver_sql("SELECT 1")
    try:
        return await driver.fetch(sql, *arguments)
    except IntegrityConstraintViolationError as exc:
        raise as_conflict(exc) from exc
    except Exception as exc:
        if driver.is_closed():  # the pool must not hand this connection out again
            session.info.pop(_DRIVER, None)
            await connection.invalidate(exc)
        if is_unavailable(exc):
            raise as_unavailable(exc) from exc
        raise
