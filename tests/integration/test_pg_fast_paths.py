"""PostgreSQL's fast paths (``adapters/sql/pg_fast.py``) against the portable statements: the
same rows written, the same aggregates and applicants read, conflicts and rollbacks as before,
reads of a read-only unit of work outside any transaction, and a dead connection replaced.

Each comparison runs the repositories twice on the same PostgreSQL database, once with the
portable statements (what SQLite runs: ``is_asyncpg`` patched to say no)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.demo.portfolio import generate_applicants
from adapters.sql import audit, repositories
from adapters.sql.audit import SqlAuditTrail, canonical
from adapters.sql.database import session_factory
from adapters.sql.mapping import decision_columns, offer_columns
from adapters.sql.unit_of_work import SqlUnitOfWorkFactory
from application.errors import Conflict, Unavailable
from application.security import AuditEntry
from domain.applicant import Applicant, LoanRequest
from domain.behavior.events import BehaviorEvent, BehaviorEventType
from domain.offers import OfferStatus
from tests.integration.conftest import NOW, OfferSetFactory
from tests.integration.pg_tables import emptied_engine, portable_statements, units_of_work
from tests.integration.test_sql_database import _terminate

pytestmark = pytest.mark.services


@pytest.fixture
async def engine(postgres_url: str) -> AsyncIterator[AsyncEngine]:
    # One connection, never pinged: the dead-connection test reaches the one it killed.
    engine = await emptied_engine(postgres_url, pool_size=1, max_overflow=0,
                                  ping_after_idle_s=3600)
    yield engine
    await engine.dispose()


@pytest.fixture
def uows(engine: AsyncEngine) -> SqlUnitOfWorkFactory:
    return units_of_work(engine)


@pytest.fixture
def portable(monkeypatch: pytest.MonkeyPatch) -> Callable[[], Any]:
    """``with portable():`` runs the repositories' portable statements on PostgreSQL."""
    return portable_statements(monkeypatch, repositories, audit)


def _applicants(count: int) -> list[Applicant]:
    return list(generate_applicants(count, start=300))


async def _rows(engine: AsyncEngine, table: str, key: str) -> dict[str, dict[str, Any]]:
    async with engine.connect() as connection:
        result = await connection.execute(text(f"SELECT * FROM {table}"))
        return {row[key]: dict(row) for row in result.mappings()}


async def test_offer_sets_are_written_column_for_column_as_mapped(
        engine: AsyncEngine, uows: SqlUnitOfWorkFactory, make_offer_set: OfferSetFactory) -> None:
    people = _applicants(4)
    poor = replace(people[0], credit=replace(people[0].credit, has_write_off=True))
    sets = [make_offer_set(who=people[1]), make_offer_set(who=poor),
            make_offer_set(who=people[2], request=LoanRequest(None, 24)),
            make_offer_set(who=people[3])]
    assert sets[1].offers == () and all(s.offers for s in sets[2:])
    async with uows() as uow:
        await uow.offers.add_offer_sets(sets)
        await uow.commit()

    decisions = await _rows(engine, "offer_decisions", "user_id")
    offers = await _rows(engine, "offers", "offer_id")
    assert len(decisions) == len(sets)
    assert len(offers) == sum(len(s.offers) for s in sets)
    for offer_set in sets:
        stored = decisions[offer_set.user_id]
        assert stored == decision_columns(offer_set, stored["decision_id"])  # JSON as values
        for offer in offer_set.offers:
            row = offers[offer.offer_id]
            assert row == offer_columns(offer, stored["decision_id"])
    async with uows() as uow:  # and read back as the domain objects that were written
        for offer_set in sets:
            for offer in offer_set.offers:
                assert await uow.offers.get(offer.offer_id) == offer


async def test_json_is_stored_exactly_as_the_portable_insert_stores_it(
        engine: AsyncEngine, uows: SqlUnitOfWorkFactory, make_offer_set: OfferSetFactory,
        portable: Any) -> None:
    fast, slow = make_offer_set(), make_offer_set()
    async with uows() as uow:
        await uow.offers.add_offer_sets([fast])
        await uow.commit()
    with portable():
        async with uows() as uow:
            await uow.offers.add_offer_sets([slow])
            await uow.commit()
    async with engine.connect() as connection:
        texts = {row.offer_id: row.explanation for row in await connection.execute(text(
            "SELECT offer_id, explanation::text AS explanation FROM offers"))}
    for a, b in zip(fast.offers, slow.offers, strict=True):
        assert texts[a.offer_id] == texts[b.offer_id]  # the same jsonb, to the last digit
        assert json.loads(texts[a.offer_id])["summary"] == a.explanation.summary


async def test_a_clash_is_a_conflict_and_the_group_stores_nothing(
        engine: AsyncEngine, uows: SqlUnitOfWorkFactory, make_offer_set: OfferSetFactory) -> None:
    first = make_offer_set()
    async with uows() as uow:
        await uow.offers.add_offer_sets([first])
        await uow.commit()
    others = [make_offer_set(), make_offer_set()]
    with pytest.raises(Conflict):
        async with uows() as uow:
            await uow.offers.add_offer_sets([others[0], first, others[1]])
            await uow.commit()
    stored = await _rows(engine, "offers", "offer_id")
    assert set(stored) == {o.offer_id for o in first.offers}


async def test_writes_are_undone_without_a_commit_and_seen_by_their_own_transaction(
        engine: AsyncEngine, uows: SqlUnitOfWorkFactory, make_offer_set: OfferSetFactory,
        applicant: Applicant) -> None:
    offer_set = make_offer_set()
    async with uows() as uow:
        await uow.offers.add_offer_sets([offer_set])
        seen = await uow.offers.history_snapshots([applicant.user_id], NOW)
        assert seen[applicant.user_id].summary.offers_seen == len(offer_set.offers)
    assert await _rows(engine, "offers", "offer_id") == {}
    assert await _rows(engine, "offer_decisions", "decision_id") == {}


async def test_history_aggregates_match_the_portable_statement(
        uows: SqlUnitOfWorkFactory, make_offer_set: OfferSetFactory, portable: Any) -> None:
    people = _applicants(5)
    sets = [make_offer_set(who=who, now=NOW - timedelta(days=days))
            for who in people[:4] for days in (0, 2, 30, 400)]
    async with uows() as uow:
        await uow.offers.add_offer_sets(sets)
        await uow.commit()
    async with uows() as uow:
        await uow.offers.set_status(sets[0].offers[0].offer_id, OfferStatus.ACCEPTED)
        await uow.offers.set_status(sets[5].offers[0].offer_id, OfferStatus.DECLINED)
        await uow.commit()
    users = [p.user_id for p in people]
    for moment in (NOW, NOW + timedelta(days=10)):
        for chosen in (users, users[:1], users[3:]):
            async with uows() as uow:
                fast = await uow.offers.history_snapshots(chosen, moment)
            with portable():
                async with uows() as uow:
                    slow = await uow.offers.history_snapshots(chosen, moment)
            assert fast == slow
    async with uows() as uow:
        fast = await uow.offers.history_snapshots(users, NOW)
    assert fast[users[4]].summary.offers_seen == 0  # no offers: the empty aggregate
    assert fast[users[0]].summary.accepted == 1 and fast[users[1]].summary.declined == 1


async def test_applicants_read_as_the_portable_reads_them(
        engine: AsyncEngine, uows: SqlUnitOfWorkFactory, portable: Any) -> None:
    people = _applicants(4)
    async with uows() as uow:
        await uow.applicants.upsert_many(people)
        for n, (days, kind) in enumerate([(1, BehaviorEventType.OFFER_VIEWED),
                                          (100, BehaviorEventType.OFFER_VIEWED),
                                          (40, BehaviorEventType.APP_SESSION),
                                          (5, BehaviorEventType.APP_SESSION),
                                          (900, BehaviorEventType.LOAN_REPAID)]):
            await uow.behavior_events.add(BehaviorEvent(
                f"event-{n}", people[1].user_id, kind, NOW - timedelta(days=days)))
        await uow.behavior_events.add(BehaviorEvent(
            "old-only", people[2].user_id, BehaviorEventType.RATE_COMPARED,
            NOW - timedelta(days=200)))
        await uow.commit()
    async with engine.begin() as connection:  # an applicant without its behaviour row
        await connection.execute(text("DELETE FROM applicant_behavior WHERE user_id = :u"),
                                 {"u": people[3].user_id})
    ids = [p.user_id for p in people] + ["user-nobody"]
    async with uows() as uow:
        fast = [await uow.applicants.get(i) for i in ids]
    with portable():
        async with uows() as uow:
            slow = [await uow.applicants.get(i) for i in ids]
    assert fast == slow
    assert fast[-1] is None
    assert fast[1] != people[1]  # the events counted
    assert fast[1].behavior.offers_viewed_90d == people[1].behavior.offers_viewed_90d + 1


async def test_a_read_only_unit_of_work_opens_no_transaction(
        uows: SqlUnitOfWorkFactory, applicant: Applicant) -> None:
    async with uows() as uow:
        await uow.applicants.get(applicant.user_id)
        await uow.offers.history_snapshots([applicant.user_id], NOW)
        connection = await uow.offers._session.connection()
        raw = await connection.get_raw_connection()
        assert not raw.driver_connection.is_in_transaction()


async def test_a_fast_read_on_a_dead_connection_is_unavailable_then_replaced(
        engine: AsyncEngine, uows: SqlUnitOfWorkFactory, postgres_url: str,
        applicant: Applicant) -> None:
    async with uows() as uow:
        connection = await uow.offers._session.connection()
        pid = (await connection.exec_driver_sql("SELECT pg_backend_pid()")).scalar_one()
    await _terminate(postgres_url, pid)
    with pytest.raises(Unavailable):
        async with uows() as uow:
            await uow.offers.history_snapshots([applicant.user_id], NOW)
    async with uows() as uow:  # the pool opened a new connection
        assert (await uow.offers.history_snapshots([applicant.user_id], NOW))[
            applicant.user_id].summary.offers_seen == 0


async def test_audit_records_written_both_ways_chain_and_verify_as_one(
        engine: AsyncEngine, portable: Callable[[], Any]) -> None:
    trail = SqlAuditTrail(session_factory(engine))

    def entries(tag: str, count: int) -> list[AuditEntry]:
        return [AuditEntry(actor=f"user-{tag}", role="customer", action="loanOffers",
                           resource=f"user-{tag}", outcome="OK", occurred_at=NOW,
                           request_id=f"{tag}-{n}", inputs_hash="ab" * 32, policy_version=n,
                           details={"n": n, "amount": "100000.50", "é": [1.5, None]})
                for n in range(count)]

    with portable():
        await trail.append(entries("portable", 3))
    await trail.append(entries("fast", 4))
    await trail.append(entries("fast-again", 1))
    with portable():
        await trail.append(entries("portable-again", 2))
    verification = await trail.verify()
    assert verification.ok, verification.problems
    async with engine.connect() as connection:
        rows = (await connection.execute(text(
            "SELECT request_id, details, occurred_at FROM audit_log "
            "WHERE actor LIKE 'user-fast%' OR actor LIKE 'user-portable%'"))).all()
    assert len(rows) == 10
    for request_id, details, occurred_at in rows:
        n = int(request_id.rsplit("-", 1)[1])
        assert details == canonical({"n": n, "amount": "100000.50", "é": [1.5, None]})
        assert occurred_at == NOW


async def test_a_cache_miss_reads_applicant_and_history_in_one_statement(
        uows: SqlUnitOfWorkFactory, make_offer_set: OfferSetFactory, applicant: Applicant,
        portable: Callable[[], Any], monkeypatch: pytest.MonkeyPatch) -> None:
    async with uows() as uow:
        await uow.applicants.upsert_many([applicant])
        await uow.offers.add_offer_sets([make_offer_set(), make_offer_set()])
        await uow.commit()
    statements = []
    fetch = repositories.fetch

    async def counted(*args: Any) -> Any:
        statements.append(args[1])
        return await fetch(*args)

    monkeypatch.setattr(repositories, "fetch", counted)
    async with uows() as uow:
        fast = (await uow.applicants.get(applicant.user_id),
                await uow.offers.history_snapshots([applicant.user_id], NOW))
    assert len(statements) == 1
    with portable():
        async with uows() as uow:
            slow = (await uow.applicants.get(applicant.user_id),
                    await uow.offers.history_snapshots([applicant.user_id], NOW))
    assert fast == slow
    assert fast[1][applicant.user_id].summary.offers_seen > 0


async def test_the_history_read_with_the_applicant_is_not_served_once_it_could_differ(
        uows: SqlUnitOfWorkFactory, make_offer_set: OfferSetFactory, applicant: Applicant,
        portable: Callable[[], Any]) -> None:
    first = make_offer_set()
    async with uows() as uow:
        await uow.applicants.upsert_many([applicant])
        await uow.offers.add_offer_sets([first])
        await uow.commit()
    later = NOW + timedelta(days=10)  # the open offers have lapsed by then
    async with uows() as uow:
        await uow.applicants.get(applicant.user_id)
        lapsed = await uow.offers.history_snapshots([applicant.user_id], later)
    with portable():
        async with uows() as uow:
            assert lapsed == await uow.offers.history_snapshots([applicant.user_id], later)
    assert lapsed[applicant.user_id].summary.lapsed == 1

    second = make_offer_set()  # written by the same unit of work after the read
    async with uows() as uow:
        await uow.applicants.get(applicant.user_id)
        await uow.offers.add_offer_sets([second])
        seen = await uow.offers.history_snapshots([applicant.user_id], NOW)
    assert seen[applicant.user_id].summary.offers_seen == len(first.offers) + len(second.offers)


async def test_a_cache_miss_looks_its_connection_up_once_and_a_commit_drops_it(
        uows: SqlUnitOfWorkFactory, make_offer_set: OfferSetFactory, applicant: Applicant,
        monkeypatch: pytest.MonkeyPatch) -> None:
    async with uows() as uow:
        await uow.applicants.upsert_many([applicant])
        await uow.commit()
    lookups = []
    session_class = type(uow.offers._session)
    connection = session_class.connection

    async def counted(self: Any, *args: Any, **kwargs: Any) -> Any:
        lookups.append(self)
        return await connection(self, *args, **kwargs)

    monkeypatch.setattr(session_class, "connection", counted)
    async with uows() as uow:
        await uow.applicants.get(applicant.user_id)
        await uow.offers.history_snapshots([applicant.user_id], NOW)
        assert len(lookups) == 1
        await uow.offers.add_offer_sets([make_offer_set()])
        await uow.commit()  # the connection goes back to the pool: looked up afresh after
        lookups.clear()
        seen = await uow.offers.history_snapshots([applicant.user_id], NOW)
        assert len(lookups) == 1
    assert seen[applicant.user_id].summary.offers_seen > 0
