"""The SQL adapters behind acceptOffer, declineOffer, recordBehaviorEvent, publishing and
expiry, on SQLite and PostgreSQL: conditional transitions, idempotency records, behaviour event
windows, re-pricing batches; and the use cases racing themselves on a real database."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.sql.database import session_factory
from adapters.sql.unit_of_work import SqlUnitOfWorkFactory
from application.errors import Conflict
from application.offer_outcome import OfferOutcome
from application.use_cases.accept_offer import AcceptOffer
from application.use_cases.decide_offer import OfferAnswerCommand
from application.use_cases.expire_offers import ExpireOffers
from domain.applicant import Applicant, LoanRequest
from domain.behavior.events import BehaviorEvent, BehaviorEventCounts, BehaviorEventType
from domain.offers import OfferSet, OfferStatus
from domain.policy.model import PricingPolicy
from tests.integration.conftest import NOW, OfferSetFactory
from tests.pii import dev_pii

T = BehaviorEventType


class Clock:
    def __init__(self) -> None:
        self.current = NOW

    def now(self):
        return self.current


class Events:
    def __init__(self) -> None:
        self.published: list[tuple[str, str]] = []

    async def publish(self, event) -> None:
        self.published.append((event.type.value, event.offer.offer_id))


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def uow(uow_factory: SqlUnitOfWorkFactory, sql_engine: AsyncEngine, clock: Clock
        ) -> SqlUnitOfWorkFactory:
    """Units of work on emptied tables whose repositories read the test's clock."""
    return SqlUnitOfWorkFactory(session_factory(sql_engine), now=clock.now, pii=dev_pii())


@pytest.fixture
async def stored(uow: SqlUnitOfWorkFactory, applicant: Applicant, policy: PricingPolicy,
                 policy_toml: str, make_offer_set: OfferSetFactory) -> list[OfferSet]:
    """The applicant with two answers (the second asked for specific terms)."""
    sets = [make_offer_set(), make_offer_set(request=LoanRequest(None, 36))]
    async with uow() as u:
        await u.policies.add(policy, policy_toml, activate=True)
        await u.applicants.add_many([applicant])
        for s in sets:
            await u.offers.add_offer_set(s)
        await u.commit()
    assert all(len(s.offers) >= 2 for s in sets)
    return sets


async def test_a_transition_happens_once_and_only_from_active(
        uow: SqlUnitOfWorkFactory, stored: list[OfferSet], clock: Clock) -> None:
    offer = stored[0].offers[0]
    clock.current = NOW + timedelta(minutes=1)
    async with uow() as u:
        changed = await u.offers.transition(offer.offer_id, OfferStatus.REPRICED,
                                            replaced_by="successor-1")
        again = await u.offers.transition(offer.offer_id, OfferStatus.ACCEPTED)
        missing = await u.offers.transition("no-such-offer", OfferStatus.ACCEPTED)
        await u.commit()
    assert changed == offer.with_status(OfferStatus.REPRICED).__class__(
        **{**{f: getattr(offer, f) for f in offer.__slots__}, "status": OfferStatus.REPRICED,
           "replaced_by": "successor-1"})
    assert again is None and missing is None
    async with uow() as u:
        assert await u.offers.get(offer.offer_id) == changed


async def test_withdraw_active_changes_only_the_users_open_unexpired_offers(
        uow: SqlUnitOfWorkFactory, stored: list[OfferSet], clock: Clock,
        make_offer_set: OfferSetFactory) -> None:
    first, second = stored
    kept = second.offers[0]
    # An older answer, already past validUntil: left for the expiry sweep.
    stale = make_offer_set(now=NOW - timedelta(days=30))
    async with uow() as u:
        await u.offers.add_offer_set(stale)
        await u.offers.transition(first.offers[1].offer_id, OfferStatus.DECLINED)
        withdrawn = await u.offers.withdraw_active(first.user_id, except_offer_id=kept.offer_id)
        await u.commit()
    expected = {o.offer_id for s in stored for o in s.offers} - {kept.offer_id,
                                                                 first.offers[1].offer_id}
    assert {o.offer_id for o in withdrawn} == expected
    assert {o.status for o in withdrawn} == {OfferStatus.WITHDRAWN}
    async with uow() as u:
        assert (await u.offers.get(kept.offer_id)).status is OfferStatus.ACTIVE
        assert (await u.offers.get(first.offers[1].offer_id)).status is OfferStatus.DECLINED
        assert {(await u.offers.get(o.offer_id)).status for o in stale.offers} == {
            OfferStatus.ACTIVE}
        assert await u.offers.withdraw_active(first.user_id, kept.offer_id) == ()


async def test_expire_due_takes_each_due_offer_once(uow: SqlUnitOfWorkFactory,
                                                    stored: list[OfferSet]) -> None:
    offers = [o for s in stored for o in s.offers]
    async with uow() as u:
        assert await u.offers.expire_due(NOW, 100) == ()
    later = max(o.valid_until for o in offers)
    async with uow() as u:
        first = await u.offers.expire_due(later, 3)
        await u.commit()
    async with uow() as u:
        rest = await u.offers.expire_due(later, 100)
        await u.commit()
    assert len(first) == 3
    assert sorted(o.offer_id for o in first + rest) == sorted(o.offer_id for o in offers)
    assert {o.status for o in first + rest} == {OfferStatus.EXPIRED}


async def test_repricing_batch_groups_open_offers_of_a_version_by_answer(
        uow: SqlUnitOfWorkFactory, stored: list[OfferSet]) -> None:
    first, second = stored
    async with uow() as u:
        await u.offers.transition(first.offers[0].offer_id, OfferStatus.ACCEPTED)
        groups = await u.offers.repricing_batch(1, NOW, 10)
        limited = await u.offers.repricing_batch(1, NOW, 1)
        none_newer = await u.offers.repricing_batch(2, NOW, 10)
        none_later = await u.offers.repricing_batch(1, NOW + timedelta(days=60), 10)
    by_ids = {tuple(o.offer_id for o in g.offers): g for g in groups}
    assert set(by_ids) == {tuple(o.offer_id for o in first.offers[1:]),
                           tuple(o.offer_id for o in second.offers)}
    assert by_ids[tuple(o.offer_id for o in second.offers)].request == LoanRequest(None, 36)
    assert all(g.user_id == first.user_id for g in groups)
    assert len(limited) == 1 and limited[0] in groups
    assert none_newer == () and none_later == ()


async def test_idempotency_records_read_back_equal_and_keys_are_unique(
        uow: SqlUnitOfWorkFactory, stored: list[OfferSet]) -> None:
    outcome = OfferOutcome(stored[0].offers[0].with_status(OfferStatus.ACCEPTED),
                           tuple(o.with_status(OfferStatus.WITHDRAWN) for o in stored[1].offers),
                           NOW)
    async with uow() as u:
        assert await u.idempotency.get("acceptOffer", "k1") is None
        await u.idempotency.add("acceptOffer", "k1", outcome.offer.offer_id, outcome)
        await u.commit()
    async with uow() as u:
        back = await u.idempotency.get("acceptOffer", "k1")
        assert await u.idempotency.get("declineOffer", "k1") is None
    assert back is not None and back.subject_id == outcome.offer.offer_id
    assert back.outcome == outcome
    with pytest.raises(Conflict):
        async with uow() as u:
            await u.idempotency.add("acceptOffer", "k1", "other", outcome)
            await u.commit()

    async with uow() as u:  # stored at NOW (the repositories' clock)
        for n in range(2, 5):
            await u.idempotency.add("acceptOffer", f"k{n}", "x", outcome)
        await u.commit()
    async with uow() as u:
        assert await u.idempotency.purge(NOW, 10) == 0
        assert await u.idempotency.purge(NOW + timedelta(seconds=1), 3) == 3
        assert await u.idempotency.purge(NOW + timedelta(seconds=1), 3) == 1
        await u.commit()
    async with uow() as u:
        assert await u.idempotency.get("acceptOffer", "k1") is None


async def test_behavior_events_count_inside_their_windows_and_feed_the_applicant(
        uow: SqlUnitOfWorkFactory, stored: list[OfferSet], applicant: Applicant,
        clock: Clock) -> None:
    user = applicant.user_id
    events = [
        BehaviorEvent("e1", user, T.RATE_COMPARED, NOW - timedelta(days=1)),
        BehaviorEvent("e2", user, T.RATE_COMPARED, NOW - timedelta(days=89)),
        BehaviorEvent("e3", user, T.RATE_COMPARED, NOW - timedelta(days=91)),
        BehaviorEvent("e4", user, T.APP_SESSION, NOW - timedelta(days=31)),
        BehaviorEvent("e5", user, T.OFFER_VIEWED, NOW - timedelta(hours=2),
                      stored[0].offers[0].offer_id),
        BehaviorEvent("e6", user, T.LOAN_REPAID, NOW - timedelta(days=1000)),
    ]
    async with uow() as u:
        assert await u.behavior_events.counts(user, NOW) == BehaviorEventCounts()
        assert [await u.behavior_events.add(e) for e in events] == [True] * len(events)
        assert await u.behavior_events.add(events[0]) is False
        await u.commit()
    async with uow() as u:
        counts = await u.behavior_events.counts(user, NOW)
        merged = await u.applicants.get(user)
    assert counts == BehaviorEventCounts(offers_viewed=1, rates_compared=2, app_sessions=0,
                                         loans_repaid=1, last_event_at=NOW - timedelta(hours=2))
    b = applicant.behavior
    assert merged.behavior.rate_comparisons_90d == b.rate_comparisons_90d + 2
    assert merged.behavior.offers_viewed_90d == b.offers_viewed_90d + 1
    assert merged.behavior.loans_repaid == b.loans_repaid + 1
    assert merged.behavior.days_since_last_active == 0
    assert merged.credit == applicant.credit


async def test_policy_records_and_latest_version(uow: SqlUnitOfWorkFactory,
                                                 stored: list[OfferSet], policy: PricingPolicy,
                                                 policy_toml: str) -> None:
    async with uow() as u:
        active = await u.policies.record()
        assert await u.policies.record(99) is None
        assert await u.policies.latest_version() == 1
    assert active is not None and active.active and active.policy == policy
    assert active.source_toml == policy_toml and active.published_at == NOW

    draft_toml = policy_toml.replace("version = 1\n", "version = 2\n", 1)
    async with uow() as u:
        await u.policies.add(replace(policy, version=2), draft_toml, activate=False)
        await u.commit()
    async with uow() as u:
        await u.policies.activate(2)
        await u.commit()
    async with uow() as u:
        assert (await u.policies.record()).policy.version == 2
        assert (await u.policies.record(1)).active is False
        assert await u.policies.latest_version() == 2
        with pytest.raises(ValueError):
            await u.policies.activate(7)


async def test_duplicate_accepts_racing_with_one_key_act_once(
        uow: SqlUnitOfWorkFactory, stored: list[OfferSet], clock: Clock) -> None:
    offer = stored[1].offers[0]
    events = Events()
    accept = AcceptOffer(uow, events, clock)
    results = await asyncio.gather(*(
        accept.execute(OfferAnswerCommand(offer.offer_id, idempotency_key="same-key"))
        for _ in range(8)), return_exceptions=True)
    errors = [r for r in results if isinstance(r, BaseException)]
    assert errors == []
    assert sum(not r.replayed for r in results) == 1
    assert len({(r.offer, r.withdrawn, r.decided_at) for r in results}) == 1
    assert [t for t, _ in events.published].count("ACCEPTED") == 1
    async with uow() as u:
        assert (await u.offers.get(offer.offer_id)).status is OfferStatus.ACCEPTED


async def test_racing_accepts_of_different_offers_accept_exactly_one(
        uow: SqlUnitOfWorkFactory, stored: list[OfferSet], clock: Clock) -> None:
    offers = [o for s in stored for o in s.offers]
    accept = AcceptOffer(uow, Events(), clock)
    results = await asyncio.gather(*(
        accept.execute(OfferAnswerCommand(o.offer_id, idempotency_key=f"k-{o.offer_id}"))
        for o in offers), return_exceptions=True)
    winners = [r for r in results if isinstance(r, OfferOutcome)]
    losers = [r for r in results if isinstance(r, Conflict)]
    assert len(winners) == 1 and len(losers) == len(offers) - 1
    async with uow() as u:
        statuses = [(await u.offers.get(o.offer_id)).status for o in offers]
    assert statuses.count(OfferStatus.ACCEPTED) == 1
    assert statuses.count(OfferStatus.WITHDRAWN) == len(offers) - 1


async def test_concurrent_sweeps_expire_each_offer_once(
        uow: SqlUnitOfWorkFactory, stored: list[OfferSet], clock: Clock) -> None:
    offers = [o for s in stored for o in s.offers]
    clock.current = max(o.valid_until for o in offers)
    events = Events()
    sweepers = [ExpireOffers(uow, events, clock, batch_size=2) for _ in range(3)]
    counts = await asyncio.gather(*(s.execute() for s in sweepers))
    assert sum(counts) == len(offers)
    assert sorted(events.published) == sorted(("EXPIRED", o.offer_id) for o in offers)
