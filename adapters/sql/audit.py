"""The ``AuditTrail`` port on the append-only, hash-chained ``audit_log`` table.

Each record's ``hash`` is SHA-256 over its sequence number, its content and the previous record's
hash (the first record chains to sixty-four zeros), so editing, inserting or deleting any record
breaks the chain from there on; ``verify`` names where. Triggers (migration 0004) refuse UPDATE
and DELETE on PostgreSQL and SQLite; the chain catches whoever bypasses them.

Appends are group-committed: concurrent requests' entries are written together in one short
transaction (under an advisory lock on PostgreSQL, so replicas never fork the chain), and each
``append`` returns only once its entries are durable. On PostgreSQL the transaction runs on the
driver (``adapters/sql/audit_pg.py``) in three round trips when this process wrote the head
last, four otherwise (five before); what is stored, and so every hash, is the same.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import AsyncIterator
from datetime import UTC
from typing import Any

import orjson
from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from adapters.sql.audit_pg import Head, append_pg
from adapters.sql.errors import as_unavailable, is_unavailable
from adapters.sql.pg_fast import is_asyncpg
from adapters.sql.tables import AuditRecordRow
from application.security import AuditEntry, AuditVerification

GENESIS = "0" * 64
ADVISORY_LOCK_KEY = 0x10A40D17  # any constant shared by every replica
WRITE_ATTEMPTS = 20
_T = AuditRecordRow.__table__  # type: ignore[attr-defined]
_FIELDS = ("seq", "occurred_at", "actor", "role", "action", "resource", "outcome", "request_id",
           "policy_version", "inputs_hash", "details", "prev_hash")


def canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True,
                      default=str)


_FLAT = frozenset({str, int, type(None)})


def canonical_flat(values: list[Any]) -> str:
    """:func:`canonical` of a list of plain ``str``/``int``/``None`` (a record's fields), in
    half the time: orjson writes such a list exactly as the standard library does (same
    separators, same escapes of ``"``, ``\\`` and control characters) except for what
    ``ensure_ascii`` escapes: anything not ASCII, and DEL (0x7f). Output holding either, or
    any other type, or an int orjson cannot write, goes through :func:`canonical`."""
    if all(type(value) in _FLAT for value in values):
        try:
            text = orjson.dumps(values)
        except orjson.JSONEncodeError:  # an int beyond 64 bits
            return canonical(values)
        if text.isascii() and b"\x7f" not in text:
            return text.decode()
    return canonical(values)


def record_hash(row: dict[str, Any]) -> str:
    values = [row[name].isoformat() if name == "occurred_at" else row[name] for name in _FIELDS]
    return hashlib.sha256(canonical_flat(values).encode()).hexdigest()


def _row(seq: int, entry: AuditEntry, prev_hash: str) -> dict[str, Any]:
    row = {"seq": seq, "occurred_at": entry.occurred_at.astimezone(UTC), "actor": entry.actor[:128],
           "role": entry.role[:32], "action": entry.action[:64], "resource": entry.resource[:200],
           "outcome": entry.outcome[:32], "request_id": entry.request_id[:128],
           "policy_version": entry.policy_version, "inputs_hash": entry.inputs_hash,
           "details": canonical(entry.details), "prev_hash": prev_hash}
    row["hash"] = record_hash(row)
    return row


def _chain(last: Any, entries: list[AuditEntry]) -> list[dict[str, Any]]:
    """The rows of ``entries``, chained after ``last`` (the head's ``seq`` and ``hash``, or
    ``None`` for an empty trail)."""
    seq, prev_hash = (last.seq, last.hash) if last else (0, GENESIS)
    rows = []
    for entry in entries:
        seq += 1
        rows.append(_row(seq, entry, prev_hash))
        prev_hash = rows[-1]["hash"]
    return rows


class SqlAuditTrail:
    def __init__(self, session_factory: async_sessionmaker[AsyncSession]) -> None:
        self._session_factory = session_factory
        self._pending: list[tuple[list[AuditEntry], asyncio.Future[None]]] = []
        self._writer: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()  # one writer per process; the advisory lock across processes
        #: The head this process wrote last: PostgreSQL inserts after it without reading the
        #: head first when it is still the head (checked in the insert's statement).
        self._head: Head | None = None

    async def append(self, entries: list[AuditEntry]) -> None:
        if not entries:
            return
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending.append((list(entries), done))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.ensure_future(self._drain())
        await asyncio.shield(done)

    async def _drain(self) -> None:
        while self._pending:
            batch, self._pending = self._pending, []
            try:
                await self._write([entry for entries, _ in batch for entry in entries])
            except Exception as exc:
                failure = as_unavailable(exc) if is_unavailable(exc) else exc
                for _, done in batch:
                    if not done.done():
                        done.set_exception(failure)
            else:
                for _, done in batch:
                    if not done.done():
                        done.set_result(None)

    async def _write(self, entries: list[AuditEntry]) -> None:
        # SQLite has no advisory lock: a writer in another process may take the same sequence
        # number first; the primary key refuses the second, which re-reads the head and retries.
        for attempt in range(WRITE_ATTEMPTS):
            try:
                return await self._write_once(entries)
            except IntegrityError:
                if attempt == WRITE_ATTEMPTS - 1:
                    raise
                await asyncio.sleep(0.005 * (attempt + 1))

    async def _write_once(self, entries: list[AuditEntry]) -> None:
        async with self._lock, self._session_factory() as session:
            if is_asyncpg(session):
                self._head = await append_pg(session, ADVISORY_LOCK_KEY, self._head,
                                             lambda head: _chain(head, entries))
                return
            async with session.begin():
                last = (await session.exec(
                    select(_T.c.seq, _T.c.hash).order_by(_T.c.seq.desc()).limit(1))).first()
                await session.exec(insert(_T), params=_chain(last, entries))

    async def _rows(self, page: int = 1000) -> AsyncIterator[dict[str, Any]]:
        after = 0
        while True:
            async with self._session_factory() as session:
                result = await session.exec(
                    select(_T).where(_T.c.seq > after).order_by(_T.c.seq).limit(page))
                rows = [dict(r._mapping) for r in result]
            if not rows:
                return
            for row in rows:
                yield row
            after = rows[-1]["seq"]

    async def verify(self) -> AuditVerification:
        problems: list[str] = []
        expected_seq, prev_hash, count = 1, GENESIS, 0
        async for row in self._rows():
            count += 1
            seq = row["seq"]
            if seq != expected_seq:
                problems.append(f"records {expected_seq}..{seq - 1} are missing (deleted)"
                                if seq > expected_seq else f"record {seq} is out of order")
            if row["prev_hash"] != prev_hash:
                problems.append(f"record {seq} does not follow the record before it "
                                "(inserted, or its predecessor was edited or deleted)")
            if record_hash(row) != row["hash"]:
                problems.append(f"record {seq} was edited (its hash does not match its content)")
            expected_seq, prev_hash = seq + 1, row["hash"]
        return AuditVerification(ok=not problems, records=count, problems=tuple(problems),
                                 head=prev_hash)
