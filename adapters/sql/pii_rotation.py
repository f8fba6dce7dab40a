"""Re-sealing the personal data of stored applicants: ``keys rotate`` and migration 0005.

Works in batches of rows in ``user_id`` order. For each row it seals under the current key every
value that is plaintext (a database from before encryption) or sealed under an older key,
and fills its missing blind indexes; ``reindex`` recomputes every blind index (after a change of
the blind-index key). Rows already done are skipped by the query itself (``NOT LIKE
'v1.<current kid>.%'``), so a run that stopped half-way resumes where it stopped, and a second
run changes nothing. Written over a sync ``Connection`` so Alembic (sync) and the CLI
(``AsyncConnection.run_sync``, one transaction per batch) share it.

The table is described here with ``sqlalchemy.table()`` rather than the ORM model: the migration
that calls this must keep working when the model changes later.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.sql.pii_columns import INDEX_COLUMNS, INDEXED, SEALED, TABLE, binding, index_column
from application.pii import PiiCryptoError, PiiProtection

APPLICANTS = sa.table(TABLE, *(sa.column(c, sa.Text) for c in ("user_id", *SEALED,
                                                                *INDEX_COLUMNS)))


@dataclass
class ResealCounts:
    """What a run did: rows looked at and changed, values sealed anew (from plaintext, from an
    older key), blind indexes written."""

    rows_seen: int = 0
    rows_changed: int = 0
    from_plaintext: int = 0
    from_older_key: dict[str, int] = field(default_factory=dict)
    indexes_written: int = 0
    batches: int = 0

    def add(self, other: ResealCounts) -> None:
        self.rows_seen += other.rows_seen
        self.rows_changed += other.rows_changed
        self.from_plaintext += other.from_plaintext
        for key_id, n in other.from_older_key.items():
            self.from_older_key[key_id] = self.from_older_key.get(key_id, 0) + n
        self.indexes_written += other.indexes_written
        self.batches += other.batches


class RotationError(RuntimeError):
    """A stored value that cannot be re-sealed (names the row and column, never the value)."""


def _needs_work(pii: PiiProtection, reindex: bool) -> sa.ColumnElement[bool]:
    if reindex:
        return sa.true()
    done = f"v1.{pii.cipher.current_key_id}.%"  # key ids hold no LIKE wildcards
    stale = [sa.and_(APPLICANTS.c[c].is_not(None), APPLICANTS.c[c].not_like(done))
             for c in SEALED]
    unindexed = [sa.and_(APPLICANTS.c[c].is_not(None), APPLICANTS.c[index_column(c)].is_(None))
                 for c in INDEXED]
    return sa.or_(*stale, *unindexed)


def reseal_batch(connection: Connection, pii: PiiProtection, after: str | None, size: int,
                 reindex: bool = False) -> tuple[str | None, ResealCounts]:
    """Re-seal the next ``size`` rows needing it after ``after`` (``None``: from the start);
    returns the last ``user_id`` looked at (``None``: nothing left) and the counts. The caller
    owns the transaction. On PostgreSQL the rows are locked (``FOR UPDATE``) so a concurrent
    upsert waits instead of being overwritten with the older values."""
    a = APPLICANTS.c
    query = sa.select(APPLICANTS).where(_needs_work(pii, reindex)).order_by(a.user_id).limit(size)
    if after is not None:
        query = query.where(a.user_id > after)
    if connection.dialect.name == "postgresql":
        query = query.with_for_update()
    rows = connection.execute(query).mappings().all()
    counts = ResealCounts(rows_seen=len(rows), batches=1 if rows else 0)
    updates = [u for u in (_reseal_row(dict(row), pii, reindex, counts) for row in rows) if u]
    if updates:
        names = [*SEALED, *INDEX_COLUMNS]
        statement = (sa.update(APPLICANTS).where(a.user_id == sa.bindparam("row_id"))
                     .values({n: sa.bindparam(f"new_{n}") for n in names}))
        connection.execute(statement, [{"row_id": u["user_id"],
                                        **{f"new_{n}": u[n] for n in names}} for u in updates])
    counts.rows_changed = len(updates)
    return (rows[-1]["user_id"] if rows else None), counts


def _reseal_row(row: dict, pii: PiiProtection, reindex: bool, counts: ResealCounts
                ) -> dict | None:
    cipher, current = pii.cipher, pii.cipher.current_key_id
    new = dict(row)
    changed = False
    for column in SEALED:
        value = row[column]
        if value is None:
            continue
        index_missing = column in INDEXED and (reindex or row[index_column(column)] is None)
        key_id = cipher.key_id(value) if cipher.is_envelope(value) else None
        if key_id == current and not index_missing:
            continue
        plain = value if key_id is None else _open(value, column, row["user_id"], pii)
        if key_id != current:
            new[column] = cipher.seal(plain, binding(column, row["user_id"]))
            if key_id is None:
                counts.from_plaintext += 1
            else:
                counts.from_older_key[key_id] = counts.from_older_key.get(key_id, 0) + 1
            changed = True
        if column in INDEXED and (index_missing or key_id is None):
            new[index_column(column)] = pii.index.digest(INDEXED[column], plain)
            counts.indexes_written += 1
            changed = True
    return new if changed else None


def _open(value: str, column: str, user_id: str, pii: PiiProtection) -> str:
    try:
        return pii.cipher.open(value, binding(column, user_id))
    except PiiCryptoError as exc:
        raise RotationError(f"applicant {user_id!r}, column {column}: {exc}") from None


def reseal_all(connection: Connection, pii: PiiProtection, size: int = 500,
               reindex: bool = False) -> ResealCounts:
    """Every batch in the caller's one transaction (the migration)."""
    total = ResealCounts()
    for counts in _batches(lambda after: reseal_batch(connection, pii, after, size, reindex)):
        total.add(counts)
    return total


def _batches(run) -> Iterator[ResealCounts]:
    after = None
    while True:
        after, counts = run(after)
        if after is None:
            return
        yield counts


def unseal_all(connection: Connection, pii: PiiProtection, size: int = 500) -> int:
    """Back to plaintext (migration 0005's downgrade only); returns the rows changed."""
    a = APPLICANTS.c
    changed, after = 0, ""
    while True:
        rows = connection.execute(sa.select(APPLICANTS).where(a.user_id > after)
                                  .order_by(a.user_id).limit(size)).mappings().all()
        if not rows:
            return changed
        plain = []
        for row in rows:
            opened = {c: row[c] if row[c] is None or not pii.cipher.is_envelope(row[c])
                      else _open(row[c], c, row["user_id"], pii) for c in SEALED}
            plain.append({"row_id": row["user_id"], **{f"new_{c}": v for c, v in opened.items()}})
        connection.execute(sa.update(APPLICANTS).where(a.user_id == sa.bindparam("row_id"))
                           .values({c: sa.bindparam(f"new_{c}") for c in SEALED}), plain)
        changed += len(rows)
        after = rows[-1]["user_id"]


def key_usage(connection: Connection, pii: PiiProtection) -> dict[str, int]:
    """How many stored values each key id seals (``plaintext`` for values not sealed): what an
    operator checks before retiring a key."""
    usage: dict[str, int] = {}
    for column in SEALED:
        values = connection.execute(sa.select(APPLICANTS.c[column])
                                    .where(APPLICANTS.c[column].is_not(None))).scalars()
        for value in values:
            key_id = pii.cipher.key_id(value) if pii.cipher.is_envelope(value) else "plaintext"
            usage[key_id] = usage.get(key_id, 0) + 1
    return usage


async def rotate(engine: AsyncEngine, pii: PiiProtection, size: int = 500, reindex: bool = False,
                 on_batch: Callable[[ResealCounts], None] | None = None) -> ResealCounts:
    """``keys rotate``: one transaction per batch, so an interrupted run keeps what it did and
    the next run continues with the rows still to do."""
    total, after = ResealCounts(), None
    while True:
        async with engine.begin() as connection:
            after, counts = await connection.run_sync(reseal_batch, pii, after, size, reindex)
        if after is None:
            return total
        total.add(counts)
        if on_batch is not None:
            on_batch(total)


async def stored_key_usage(engine: AsyncEngine, pii: PiiProtection) -> dict[str, int]:
    async with engine.connect() as connection:
        return await connection.run_sync(key_usage, pii)
