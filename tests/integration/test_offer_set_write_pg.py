"""PostgreSQL: a group of offer sets written and its users' history aggregates read in one
statement (``adapters/sql/offer_set_write.py``, ``SqlUnitOfWork.commit_offer_sets``): the same
rows and ``jsonb`` as the portable statements, the same aggregates as a read after the write,
its own transaction when none is open (durable when it returns), part of the open one otherwise,
and all or nothing: a clash or any failure stores nothing of the group and every request of the
group gets the error."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

import asyncpg
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.demo.portfolio import generate_applicants
from adapters.sql import repositories
from adapters.sql.mapping import decision_columns, offer_columns
from adapters.sql.offer_set_write import OFFERS_INSERT
from adapters.sql.unit_of_work import SqlUnitOfWorkFactory
from application.errors import Conflict
from application.offer_set_writer import BatchingOfferSetWriter
from domain.applicant import Applicant, LoanRequest
from domain.offers import OfferStatus
from tests.integration.conftest import NOW, OfferSetFactory
from tests.integration.pg_tables import emptied_engine, portable_statements, units_of_work

pytestmark = pytest.mark.services


@pytest.fixture
async def engine(postgres_url: str) -> AsyncIterator[AsyncEngine]:
    engine = await emptied_engine(postgres_url, pool_size=2, max_overflow=0)
    yield engine
    await engine.dispose()


@pytest.fixture
def uows(engine: AsyncEngine) -> SqlUnitOfWorkFactory:
    return units_of_work(engine)


@pytest.fixture
def portable(monkeypatch: pytest.MonkeyPatch) -> Callable[[], Any]:
    return portable_statements(monkeypatch, repositories)


@pytest.fixture
def statements(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """Per statement run on the driver: whether a transaction was open when it started."""
    seen: list[bool] = []
    run = repositories.run

    async def counted(session: Any, sql: str, arguments: Any) -> Any:
        raw = await (await session.connection()).get_raw_connection()
        seen.append(raw.driver_connection.is_in_transaction())
        return await run(session, sql, arguments)

    monkeypatch.setattr(repositories, "run", counted)
    return seen


def _people(count: int, start: int = 500) -> list[Applicant]:
    return list(generate_applicants(count, start=start))


async def _rows(engine: AsyncEngine, table: str, key: str) -> dict[str, dict[str, Any]]:
    async with engine.connect() as connection:
        result = await connection.execute(text(f"SELECT * FROM {table}"))
        return {row[key]: dict(row) for row in result.mappings()}


async def test_one_statement_writes_what_was_mapped_and_reads_the_aggregates_after_it(
        engine: AsyncEngine, uows: SqlUnitOfWorkFactory, make_offer_set: OfferSetFactory,
        statements: list[bool], portable: Callable[[], Any]) -> None:
    people = _people(4)
    earlier = make_offer_set(who=people[0], now=NOW - timedelta(days=3))
    async with uows() as uow:
        await uow.commit_offer_sets([earlier], (), None)
    async with uows() as uow:  # an answer to an earlier offer counts in the aggregate
        await uow.offers.set_status(earlier.offers[0].offer_id, OfferStatus.ACCEPTED)
        await uow.commit()
    declined = replace(people[1], credit=replace(people[1].credit, has_write_off=True))
    sets = [make_offer_set(who=people[0]), make_offer_set(who=declined),
            make_offer_set(who=people[2], request=LoanRequest(None, 24)),
            make_offer_set(who=people[2])]
    assert sets[1].offers == ()
    users = [p.user_id for p in people]  # people[3]: nothing stored, the empty aggregate
    statements.clear()
    async with uows() as uow:
        written = await uow.commit_offer_sets(sets, users, NOW)
    assert statements == [False]  # one statement, its own transaction

    decisions = {row["decision_id"]: row for row in
                 (await _rows(engine, "offer_decisions", "decision_id")).values()}
    offers = await _rows(engine, "offers", "offer_id")
    assert len(decisions) == len(sets) + 1
    for offer_set in sets:
        for offer in offer_set.offers:
            row = offers[offer.offer_id]
            assert row == offer_columns(offer, row["decision_id"])
        stored = [d for d in decisions.values() if d["user_id"] == offer_set.user_id
                  and d["generated_at"] == offer_set.generated_at
                  and d["requested_tenure"] == offer_set.request.requested_tenure]
        assert stored and decision_columns(offer_set, stored[0]["decision_id"]) in stored
    async with uows() as uow:
        assert written == await uow.offers.history_snapshots(users, NOW)
    with portable():
        async with uows() as uow:
            assert written == await uow.offers.history_snapshots(users, NOW)
    assert written[users[0]].summary.accepted == 1
    assert written[users[0]].summary.offers_seen == len(earlier.offers) + len(sets[0].offers)
    assert written[users[3]].summary.offers_seen == 0


async def test_json_columns_are_stored_exactly_as_the_portable_insert_stores_them(
        engine: AsyncEngine, uows: SqlUnitOfWorkFactory, make_offer_set: OfferSetFactory,
        portable: Callable[[], Any]) -> None:
    fast, slow = make_offer_set(), make_offer_set()
    async with uows() as uow:
        await uow.commit_offer_sets([fast], [fast.user_id], NOW)
    with portable():
        async with uows() as uow:
            await uow.commit_offer_sets([slow], [slow.user_id], NOW)
    async with engine.connect() as connection:
        offers = {row.offer_id: row.explanation for row in await connection.execute(text(
            "SELECT offer_id, explanation::text AS explanation FROM offers"))}
        decisions = (await connection.execute(text(
            "SELECT reasons::text, risk::text, behavior::text FROM offer_decisions"))).all()
    for a, b in zip(fast.offers, slow.offers, strict=True):
        assert offers[a.offer_id] == offers[b.offer_id]  # the same jsonb, to the last digit
    assert len(decisions) == 2 and decisions[0] == decisions[1]
    async with uows() as uow:  # and the explanations read back as written
        for offer in fast.offers:
            assert await uow.offers.get(offer.offer_id) == offer


async def test_a_clash_is_a_conflict_and_stores_nothing_of_the_group(
        engine: AsyncEngine, uows: SqlUnitOfWorkFactory,
        make_offer_set: OfferSetFactory) -> None:
    first = make_offer_set()
    async with uows() as uow:
        await uow.commit_offer_sets([first], (), None)
    others = [make_offer_set(), make_offer_set()]
    with pytest.raises(Conflict):
        async with uows() as uow:
            await uow.commit_offer_sets([others[0], first, others[1]], [first.user_id], NOW)
    assert set(await _rows(engine, "offers", "offer_id")) == {o.offer_id for o in first.offers}
    assert len(await _rows(engine, "offer_decisions", "decision_id")) == 1


@contextlib.asynccontextmanager
async def _failing_inserts_for(engine: AsyncEngine, user_id: str) -> AsyncIterator[None]:
    """A trigger that fails the insert of ``user_id``'s offers (not a key clash)."""
    async with engine.begin() as connection:
        await connection.exec_driver_sql(
            "CREATE FUNCTION test_fail_offer() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
            f"IF NEW.user_id = '{user_id}' THEN RAISE EXCEPTION 'refused by test'; END IF; "
            "RETURN NEW; END $$")
        await connection.exec_driver_sql(
            "CREATE TRIGGER test_fail_offer BEFORE INSERT ON offers FOR EACH ROW "
            "EXECUTE FUNCTION test_fail_offer()")
    try:
        yield
    finally:
        async with engine.begin() as connection:
            await connection.exec_driver_sql("DROP TRIGGER test_fail_offer ON offers")
            await connection.exec_driver_sql("DROP FUNCTION test_fail_offer()")


async def test_a_failed_group_stores_nothing_and_every_request_gets_the_error(
        engine: AsyncEngine, uows: SqlUnitOfWorkFactory, make_offer_set: OfferSetFactory) -> None:
    people = _people(6)
    writer = BatchingOfferSetWriter(uows, max_batch=16, max_in_flight=1)
    sets = [make_offer_set(who=who) for who in people]
    async with _failing_inserts_for(engine, people[-1].user_id):
        results = await asyncio.gather(*(writer.save(s) for s in sets), return_exceptions=True)
    assert all(isinstance(r, asyncpg.RaiseError) for r in results), results
    assert writer.transactions == 0
    assert await _rows(engine, "offers", "offer_id") == {}
    assert await _rows(engine, "offer_decisions", "decision_id") == {}
    await writer.save(sets[0])  # the connection is fine afterwards
    assert len(await _rows(engine, "offer_decisions", "decision_id")) == 1


async def test_inside_an_open_transaction_it_is_part_of_it(
        engine: AsyncEngine, uows: SqlUnitOfWorkFactory, make_offer_set: OfferSetFactory,
        applicant: Applicant, statements: list[bool]) -> None:
    offer_set = make_offer_set()
    async with uows() as uow:
        await uow.applicants.upsert_many([applicant])  # opens the transaction
        written = await uow.commit_offer_sets([offer_set], [applicant.user_id], NOW)
    assert statements == [True]
    assert written[applicant.user_id].summary.offers_seen == len(offer_set.offers)
    assert len(await _rows(engine, "offers", "offer_id")) == len(offer_set.offers)
    assert set(await _rows(engine, "applicants", "user_id")) == {applicant.user_id}

    undone = make_offer_set()  # written in an open transaction, never committed
    with pytest.raises(RuntimeError):
        async with uows() as uow:
            await uow.applicants.upsert_many([applicant])
            await uow.offers.write_offer_sets([undone], [applicant.user_id], NOW)
            raise RuntimeError("the caller gives up before its commit")
    assert len(await _rows(engine, "offers", "offer_id")) == len(offer_set.offers)


async def test_an_acknowledged_group_is_visible_to_another_connection_at_once(
        engine: AsyncEngine, uows: SqlUnitOfWorkFactory, make_offer_set: OfferSetFactory,
        postgres_url: str) -> None:
    offer_set = make_offer_set()
    async with uows() as uow:
        await uow.commit_offer_sets([offer_set], [offer_set.user_id], NOW)
        # Still inside the unit of work (its connection not yet returned): committed already.
        other = await asyncpg.connect(postgres_url.replace("+asyncpg", ""))
        try:
            count = await other.fetchval("SELECT count(*) FROM offers")
        finally:
            await other.close()
    assert count == len(offer_set.offers)


def test_naive_datetimes_are_refused_before_anything_is_sent(
        make_offer_set: OfferSetFactory) -> None:
    row = offer_columns(make_offer_set().offers[0], "d")
    OFFERS_INSERT.payload([row])
    naive: datetime = row["valid_until"].replace(tzinfo=None)
    with pytest.raises(ValueError, match="naive datetime"):
        OFFERS_INSERT.payload([{**row, "valid_until": naive}])
