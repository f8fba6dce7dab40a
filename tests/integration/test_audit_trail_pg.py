"""PostgreSQL: the audit group's transaction on the driver (``adapters/sql/audit_pg.py``):
three round trips when this process wrote the head, four when another did; the same records
and hashes as before (a fixed entry's hash is pinned); a failure stores nothing, reaches every
waiting request, and leaves no connection inside a transaction."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from typing import Any
from uuid import uuid4

import asyncpg
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.sql.audit import SqlAuditTrail, _row, canonical, record_hash
from adapters.sql.database import create_engine, session_factory
from adapters.sql.migrate import upgrade_to_head
from application.security import AuditEntry

pytestmark = pytest.mark.services


def entry(i: int, actor: str = "agent") -> AuditEntry:
    return AuditEntry(actor=actor, role="AGENT", action="Query.loanOffers",
                      resource=f"user:user-{i:06d}", outcome="OK",
                      occurred_at=datetime(2026, 1, 5, 10, 0, i, 250, tzinfo=UTC),
                      request_id=f"req-{i}", inputs_hash="ab" * 32, policy_version=1,
                      details={"n": i, "é": [1.5, None, 1e-07], "amount": "100.50"})


@pytest.fixture
async def engine(postgres_server: Any) -> AsyncIterator[AsyncEngine]:
    url = postgres_server.create_database(f"audit_{uuid4().hex[:10]}")
    await asyncio.to_thread(upgrade_to_head, url)
    engine = create_engine(url, pool_size=1, max_overflow=0)
    yield engine
    await engine.dispose()


@pytest.fixture
def driver_calls(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """The messages asyncpg sends for the trail (one round trip each)."""
    calls: list[str] = []
    for name in ("execute", "fetchrow"):
        original = getattr(asyncpg.Connection, name)

        def counted(self: Any, query: str, *args: Any, _name: str = name,
                    _original: Any = original, **kwargs: Any) -> Any:
            calls.append(query.split()[0])
            return _original(self, query, *args, **kwargs)

        monkeypatch.setattr(asyncpg.Connection, name, counted)
    yield calls


def test_the_canonical_form_and_hash_are_unchanged() -> None:
    row = _row(7, entry(3), "cd" * 32)
    assert row["details"] == '{"amount":"100.50","n":3,"\\u00e9":[1.5,null,1e-07]}'
    assert row["hash"] == record_hash(row) == (
        "3c6ff445fc85aac9713b81f6f6b8ead2909fc095c3a688e5ccf9eb852cb174c4")  # main at da9484e
    assert canonical({"b": 1, "a": "ü"}) == '{"a":"\\u00fc","b":1}'


async def test_three_round_trips_after_our_own_head_four_after_another_writer(
        engine: AsyncEngine, driver_calls: list[str]) -> None:
    async with engine.connect():  # the dialect's first-connect queries, out of the count
        pass
    ours, theirs = SqlAuditTrail(session_factory(engine)), SqlAuditTrail(session_factory(engine))
    driver_calls.clear()
    await ours.append([entry(1), entry(2)])  # an empty trail is the head expected first
    assert driver_calls == ["BEGIN", "WITH", "COMMIT"]
    driver_calls.clear()
    await ours.append([entry(3)])
    assert driver_calls == ["BEGIN", "WITH", "COMMIT"]
    driver_calls.clear()
    await theirs.append([entry(4)])  # head not known yet: the insert returns it, sent again
    assert driver_calls == ["BEGIN", "WITH", "WITH", "COMMIT"]
    driver_calls.clear()
    await ours.append([entry(5)])  # another process wrote the head since
    assert driver_calls == ["BEGIN", "WITH", "WITH", "COMMIT"]
    result = await ours.verify()
    assert result.ok, result.problems
    assert result.records == 5


async def test_stored_records_are_what_was_hashed(engine: AsyncEngine) -> None:
    trail = SqlAuditTrail(session_factory(engine))
    entries = [entry(i, actor=actor) for i, actor in
               enumerate(["agent", "ägent ✓", "tab\there", "quote\"back\\slash"])]
    await trail.append(entries)
    rows = [row async for row in trail._rows()]
    assert [r["actor"] for r in rows] == [e.actor for e in entries]
    assert [r["details"] for r in rows] == [canonical(e.details) for e in entries]
    assert [r["occurred_at"] for r in rows] == [e.occurred_at for e in entries]
    assert all(record_hash(r) == r["hash"] for r in rows)


async def test_a_failed_group_stores_nothing_and_every_waiting_request_gets_the_error(
        engine: AsyncEngine) -> None:
    trail = SqlAuditTrail(session_factory(engine))
    await trail.append([entry(1)])
    bad = entry(2, actor="nul\x00byte")  # PostgreSQL text cannot hold NUL
    results = await asyncio.gather(trail.append([entry(3)]), trail.append([bad]),
                                   trail.append([entry(4)]), return_exceptions=True)
    assert all(isinstance(r, Exception) for r in results), results
    assert len({type(r) for r in results}) == 1
    await trail.append([entry(5)])  # the pool's one connection is usable, outside a transaction
    result = await trail.verify()
    assert result.ok, result.problems
    assert result.records == 2
    async with engine.connect() as connection:
        raw = await connection.get_raw_connection()
        assert not raw.driver_connection.is_in_transaction()
