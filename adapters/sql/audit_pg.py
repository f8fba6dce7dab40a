"""PostgreSQL: an audit-trail group appended in three round trips instead of five.

The chain needs the head read *after* the advisory lock is held (at READ COMMITTED a statement
sees what was committed when it started), then the rows hashed after it. Before, that was
``BEGIN``, the lock, the head, the insert and ``COMMIT``. Here:

1. ``BEGIN`` and the lock in one simple-protocol message (constant text, no parameters);
2. the insert of the rows chained after the head this process wrote last, in a statement that
   inserts only if that is still the head and returns the actual head either way (its snapshot
   is taken after the lock was granted, so it sees every committed append). When another
   process appended meanwhile, nothing was inserted: the rows are chained again after the
   returned head and sent once more, still under the lock;
3. ``COMMIT``.

Rows go as one JSON text (:class:`~adapters.sql.pg_fast.RecordsetInsert`); ``details`` and every
other value are stored as before, so the hashes (computed here, not by the database) are the
same and old chains verify. The transaction is driven on the driver, beneath SQLAlchemy (which
would send ``BEGIN`` on its own): on any failure the connection is rolled back or, if that is
not certain, invalidated, so the pool never hands out a connection inside this transaction.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

from sqlalchemy import Table
from sqlmodel.ext.asyncio.session import AsyncSession

from adapters.sql.errors import as_unavailable, is_unavailable
from adapters.sql.pg_fast import RecordsetInsert
from adapters.sql.tables import AuditRecordRow

_INSERT = RecordsetInsert.of(AuditRecordRow.__table__)  # type: ignore[arg-type]
_T: Table = AuditRecordRow.__table__  # type: ignore[assignment]
#: Rows are inserted only after the expected head ($1, NULL: an empty trail); the actual head
#: and how many rows went in come back.
_APPEND_SQL = (
    "WITH head AS (SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1), "
    f"written AS ({_INSERT.sql(2)} "
    "WHERE (SELECT hash FROM head) IS NOT DISTINCT FROM $1::text RETURNING seq) "
    "SELECT (SELECT seq FROM head) AS seq, (SELECT hash FROM head) AS hash, "
    "(SELECT count(*) FROM written) AS written")
#: A head moves under the lock only if some writer does not take it: give up after this many.
ATTEMPTS = 3


class Head(NamedTuple):
    seq: int
    hash: str


Chain = Callable[[Head | None], list[dict[str, Any]]]


async def append_pg(session: AsyncSession, lock_key: int, expected: Head | None,
                    chain: Chain) -> Head:
    """Append ``chain(head)`` (the rows after ``head``) in one transaction; returns the new
    head. ``expected``: the head this process last wrote (``None``: unknown or empty)."""
    connection = await session.connection()
    raw = await connection.get_raw_connection()
    driver = raw.driver_connection
    try:
        await driver.execute(f"BEGIN ISOLATION LEVEL READ COMMITTED; "
                             f"SELECT pg_advisory_xact_lock({int(lock_key)})")
        head = await _insert_after(driver, expected, chain)
        await driver.execute("COMMIT")
        return head
    except BaseException as exc:
        if not driver.is_closed():
            await connection.invalidate(exc if isinstance(exc, Exception) else None)
        if isinstance(exc, Exception) and is_unavailable(exc):
            raise as_unavailable(exc) from exc
        raise


async def _insert_after(driver: Any, expected: Head | None, chain: Chain) -> Head:
    for _ in range(ATTEMPTS):
        rows = chain(expected)
        result = await driver.fetchrow(_APPEND_SQL, None if expected is None else expected.hash,
                                       _INSERT.payload(rows))
        if result["written"]:
            return Head(rows[-1]["seq"], rows[-1]["hash"])
        expected = None if result["seq"] is None else Head(result["seq"], result["hash"])
    raise RuntimeError("the audit trail's head kept moving under the advisory lock")
