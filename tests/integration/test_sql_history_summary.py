"""OfferRepository.history_summary against SQLite and PostgreSQL: per-answer aggregates."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.sql.database import session_factory
from adapters.sql.unit_of_work import SqlUnitOfWorkFactory
from domain.applicant import Applicant
from domain.behavior.history import OfferHistorySummary
from domain.offers import OfferSet, OfferStatus
from tests.integration.conftest import NOW, OfferSetFactory
from tests.pii import dev_pii

LATER = NOW + timedelta(days=10)  # every offer of NOW is past its validity (3 working days)


async def _store(uow_factory: SqlUnitOfWorkFactory, *sets: OfferSet) -> None:
    async with uow_factory() as uow:
        for offer_set in sets:
            await uow.offers.add_offer_set(offer_set)
        await uow.commit()


async def _set_status(sql_engine: AsyncEngine, when, changes) -> None:
    factory = SqlUnitOfWorkFactory(session_factory(sql_engine), now=lambda: when, pii=dev_pii())
    async with factory() as uow:
        for offer_id, status in changes:
            assert await uow.offers.set_status(offer_id, status) is not None
        await uow.commit()


async def test_answers_are_counted_accepted_declined_lapsed_or_open(
        uow_factory: SqlUnitOfWorkFactory, sql_engine: AsyncEngine,
        make_offer_set: OfferSetFactory, applicant: Applicant) -> None:
    accepted, declined, lapsed, withdrawn, expired = (make_offer_set() for _ in range(5))
    still_open = make_offer_set(now=LATER - timedelta(hours=1))
    too_old = make_offer_set(now=NOW - timedelta(days=400))
    someone_else = make_offer_set(who=replace(applicant, user_id="user-other"))
    await _store(uow_factory, accepted, declined, lapsed, withdrawn, expired, still_open,
                 too_old, someone_else)
    accepted_at = NOW + timedelta(hours=1)
    await _set_status(sql_engine, accepted_at, [
        (accepted.offers[1].offer_id, OfferStatus.ACCEPTED),
        *((o.offer_id, OfferStatus.WITHDRAWN) for o in accepted.offers if o.rank != 2),
    ])
    await _set_status(sql_engine, NOW + timedelta(hours=2), [
        (declined.offers[0].offer_id, OfferStatus.DECLINED),
        *((o.offer_id, OfferStatus.WITHDRAWN) for o in withdrawn.offers),
        (expired.offers[0].offer_id, OfferStatus.EXPIRED),
        *((o.offer_id, OfferStatus.WITHDRAWN) for o in expired.offers[1:]),
        (too_old.offers[0].offer_id, OfferStatus.DECLINED),
        (someone_else.offers[0].offer_id, OfferStatus.DECLINED),
    ])
    counted = (accepted, declined, lapsed, withdrawn, expired, still_open)

    async with uow_factory() as uow:
        at_later = await uow.offers.history_summary(applicant.user_id, LATER)
        at_now = await uow.offers.history_summary(applicant.user_id, NOW + timedelta(hours=3))
        nobody = await uow.offers.history_summary("nobody", LATER)

    assert at_later == OfferHistorySummary(
        offers_seen=sum(len(s.offers) for s in counted), answers=6, accepted=1, declined=1,
        lapsed=2, last_accepted_at=accepted_at)
    # before the validity ran out only the answer whose offers were marked EXPIRED had lapsed
    assert (at_now.lapsed, at_now.accepted, at_now.declined) == (1, 1, 1)
    assert nobody == OfferHistorySummary()
    assert at_later.last_accepted_at is not None and at_later.last_accepted_at.tzinfo is not None


async def test_a_declined_decision_without_offers_is_no_answer(
        uow_factory: SqlUnitOfWorkFactory, make_offer_set: OfferSetFactory,
        applicant: Applicant) -> None:
    poor = replace(applicant, credit=replace(applicant.credit, has_write_off=True))
    declined = make_offer_set(who=poor)
    assert declined.offers == ()
    await _store(uow_factory, declined)
    async with uow_factory() as uow:
        assert await uow.offers.history_summary(applicant.user_id, LATER) == OfferHistorySummary()


async def test_the_repository_clock_is_the_default_now(
        sql_engine: AsyncEngine, uow_factory: SqlUnitOfWorkFactory,
        make_offer_set: OfferSetFactory, applicant: Applicant) -> None:
    await _store(uow_factory, make_offer_set())
    for moment, lapsed in ((NOW + timedelta(hours=1), 0), (LATER, 1)):
        factory = SqlUnitOfWorkFactory(session_factory(sql_engine), now=lambda m=moment: m,
                                       pii=dev_pii())
        async with factory() as uow:
            assert (await uow.offers.history_summary(applicant.user_id)).lapsed == lapsed


async def test_snapshots_of_several_users_say_when_each_changes_by_itself(
        uow_factory: SqlUnitOfWorkFactory, make_offer_set: OfferSetFactory,
        applicant: Applicant) -> None:
    """One query for several users, each equal to its own ``history_summary``; ``changes_at``
    is the first moment an open offer lapses, or the oldest answer leaves the window."""
    other = replace(applicant, user_id="user-other")
    old = make_offer_set(now=NOW - timedelta(days=300))
    recent = make_offer_set()
    theirs = make_offer_set(who=other)
    await _store(uow_factory, old, recent, theirs)
    at = NOW + timedelta(hours=1)
    async with uow_factory() as uow:
        snapshots = await uow.offers.history_snapshots([applicant.user_id, other.user_id,
                                                        "nobody"], at)
        each = {u: await uow.offers.history_summary(u, at)
                for u in (applicant.user_id, other.user_id, "nobody")}

    assert {u: s.summary for u, s in snapshots.items()} == each
    assert each[applicant.user_id].answers == 2 and each["nobody"] == OfferHistorySummary()
    # the recent answer's offers are still open: the first lapse is the earliest validUntil
    assert snapshots[applicant.user_id].changes_at == min(o.valid_until for o in recent.offers)
    assert snapshots[other.user_id].changes_at == min(o.valid_until for o in theirs.offers)
    assert snapshots["nobody"].changes_at is None
    # once every offer has lapsed, the next change is the old answer leaving the year's window
    later = NOW + timedelta(days=30)
    async with uow_factory() as uow:
        lapsed = (await uow.offers.history_snapshots([applicant.user_id], later))[
            applicant.user_id]
    assert lapsed.summary.lapsed == 2
    assert lapsed.changes_at == old.generated_at + timedelta(days=365)
