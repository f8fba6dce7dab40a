"""The audit trail on real SQLite and PostgreSQL: chained appends (also concurrent, also from two
"replicas"), triggers that refuse UPDATE and DELETE, and verification that finds every edit,
insertion and deletion made by someone who got past the triggers."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from uuid import uuid4

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.sql.audit import SqlAuditTrail, record_hash
from adapters.sql.database import create_engine, session_factory
from adapters.sql.migrate import upgrade_to_head
from application.security import AuditEntry


def entry(i: int) -> AuditEntry:
    return AuditEntry(actor=f"agent-{i % 3}", role="AGENT", action="Query.loanOffers",
                      resource=f"user:user-{i:06d}", outcome="OK",
                      occurred_at=datetime.now(UTC), request_id=uuid4().hex,
                      inputs_hash="ab" * 32, policy_version=1,
                      details={"decision": "APPROVED", "reasons": ["BUREAU_SCORE"],
                               "offers": [{"amountPaise": 30_000_000, "tenure": 36,
                                           "roiBps": 1725}]})


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.services)])
async def engine(request: pytest.FixtureRequest, tmp_path) -> AsyncIterator[AsyncEngine]:
    if request.param == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path / 'audit.db'}"
    else:
        url = request.getfixturevalue("postgres_server").create_database(
            f"audit_{uuid4().hex[:10]}")
    await asyncio.to_thread(upgrade_to_head, url)
    engine = create_engine(url)
    yield engine
    await engine.dispose()


def trail(engine: AsyncEngine) -> SqlAuditTrail:
    return SqlAuditTrail(session_factory(engine))


async def test_appends_chain_and_verify(engine: AsyncEngine) -> None:
    audit = trail(engine)
    assert (await audit.verify()).ok
    for i in range(5):
        await audit.append([entry(i)])
    await audit.append([entry(5), entry(6)])
    result = await audit.verify()
    assert result.ok and result.records == 7 and result.problems == ()
    async with engine.connect() as c:
        rows = (await c.execute(text("SELECT seq, prev_hash, hash FROM audit_log ORDER BY seq"))
                ).all()
    assert [r.seq for r in rows] == list(range(1, 8))
    assert all(rows[i].prev_hash == rows[i - 1].hash for i in range(1, 7))
    assert result.head == rows[-1].hash


async def test_concurrent_appends_from_two_replicas_never_fork(engine: AsyncEngine) -> None:
    replica_a, replica_b = trail(engine), trail(engine)
    await asyncio.gather(*(
        (replica_a if i % 2 else replica_b).append([entry(i)]) for i in range(60)))
    result = await replica_a.verify()
    assert result.ok, result.problems
    assert result.records == 60


@pytest.mark.parametrize("statement", ["UPDATE audit_log SET outcome = 'FORBIDDEN' WHERE seq = 1",
                                       "DELETE FROM audit_log WHERE seq = 1"])
async def test_the_database_refuses_update_and_delete(engine: AsyncEngine, statement: str
                                                      ) -> None:
    await trail(engine).append([entry(1)])
    with pytest.raises(DBAPIError, match="append-only"):
        async with engine.begin() as c:
            await c.execute(text(statement))
    assert (await trail(engine).verify()).ok


async def bypass_triggers(engine: AsyncEngine, *statements: str) -> None:
    """What a DBA with superuser rights could do: the chain must still tell."""
    async with engine.begin() as c:
        if engine.dialect.name == "postgresql":
            await c.execute(text("SET LOCAL session_replication_role = replica"))
        else:
            await c.execute(text("DROP TRIGGER IF EXISTS audit_log_no_update"))
            await c.execute(text("DROP TRIGGER IF EXISTS audit_log_no_delete"))
        for statement in statements:
            await c.execute(text(statement))


async def test_verify_finds_an_edited_record(engine: AsyncEngine) -> None:
    audit = trail(engine)
    await audit.append([entry(i) for i in range(5)])
    await bypass_triggers(engine, "UPDATE audit_log SET outcome = 'OK', actor = 'someone-else' "
                                  "WHERE seq = 3")
    result = await audit.verify()
    assert not result.ok
    assert any("record 3 was edited" in p for p in result.problems)


async def test_verify_finds_an_edit_with_a_recomputed_hash(engine: AsyncEngine) -> None:
    audit = trail(engine)
    await audit.append([entry(i) for i in range(4)])
    async with engine.connect() as c:
        row = dict((await c.execute(text("SELECT * FROM audit_log WHERE seq = 2"))).one()._mapping)
    row["actor"] = "nobody"
    if isinstance(row["occurred_at"], str):  # SQLite hands back text without the type
        row["occurred_at"] = datetime.fromisoformat(row["occurred_at"]).replace(tzinfo=UTC)
    forged = record_hash(row)
    await bypass_triggers(engine, f"UPDATE audit_log SET actor = 'nobody', hash = '{forged}' "
                                  "WHERE seq = 2")
    result = await audit.verify()
    assert any("record 3 does not follow" in p for p in result.problems), result.problems


async def test_verify_finds_deleted_and_inserted_records(engine: AsyncEngine) -> None:
    audit = trail(engine)
    await audit.append([entry(i) for i in range(6)])
    await bypass_triggers(engine, "DELETE FROM audit_log WHERE seq = 4")
    result = await audit.verify()
    assert any("4..4 are missing" in p for p in result.problems), result.problems
    assert any("record 5 does not follow" in p for p in result.problems)

    await bypass_triggers(
        engine, "INSERT INTO audit_log (seq, occurred_at, actor, role, action, resource, outcome,"
                " request_id, policy_version, inputs_hash, details, prev_hash, hash) SELECT 4, "
                "occurred_at, 'ghost', role, action, resource, outcome, request_id, "
                "policy_version, inputs_hash, details, prev_hash, hash FROM audit_log WHERE seq=3")
    result = await audit.verify()
    assert not result.ok
    assert any("record 4" in p for p in result.problems), result.problems
