"""RecordBehaviorEvent with fakes, and the pure arithmetic of events on behaviour metrics."""

from __future__ import annotations

from datetime import timedelta

import pytest

from application.applicant_reader import ApplicantReader, HistoryReader
from application.errors import InvalidInput, NotFound
from application.policy_source import ActivePolicySource
from application.use_cases.generate_offers import GenerateOffers, GenerateOffersCommand
from application.use_cases.record_behavior_event import (
    RecordBehaviorEvent,
    RecordBehaviorEventCommand,
)
from domain.applicant import Applicant
from domain.behavior.analysis import sensitivity_score
from domain.behavior.events import BehaviorEventCounts, BehaviorEventType, apply_event_counts
from domain.behavior.metrics import BehaviorMetrics
from domain.policy.model import PricingPolicy
from tests.unit.use_cases.fakes import (
    NOW,
    FakeClock,
    FakeUnitOfWorkFactory,
    NoHistoryCache,
    RecordingCache,
    RecordingPublisher,
    SequentialIds,
)

T = BehaviorEventType


@pytest.fixture
async def setup(uow_factory: FakeUnitOfWorkFactory, policy: PricingPolicy, policy_toml: str,
                approved_applicants: list[Applicant]) -> Applicant:
    async with uow_factory() as uow:
        await uow.policies.add(policy, policy_toml, activate=True)
        await uow.applicants.add_many(approved_applicants)
        await uow.commit()
    return approved_applicants[0]


@pytest.fixture
def record(uow_factory: FakeUnitOfWorkFactory, cache: RecordingCache, clock: FakeClock
           ) -> RecordBehaviorEvent:
    return RecordBehaviorEvent(uow_factory, cache, clock, SequentialIds("event"))


def test_events_add_to_the_snapshot_and_refresh_recency() -> None:
    snapshot = BehaviorMetrics(offers_viewed_90d=2, rate_comparisons_90d=1, app_sessions_30d=3,
                               days_since_last_active=40, loans_repaid=1, products_held=1)
    counts = BehaviorEventCounts(offers_viewed=3, rates_compared=4, app_sessions=5,
                                 loans_repaid=1, products_opened=2,
                                 last_event_at=NOW - timedelta(days=2, hours=1))
    merged = apply_event_counts(snapshot, counts, NOW)
    assert merged == BehaviorMetrics(offers_viewed_90d=5, rate_comparisons_90d=5,
                                     app_sessions_30d=8, days_since_last_active=2,
                                     loans_repaid=2, products_held=3)
    assert apply_event_counts(snapshot, BehaviorEventCounts(), NOW) == snapshot
    # An old event does not make a recently active customer look less recent.
    stale = BehaviorEventCounts(last_event_at=NOW - timedelta(days=400))
    assert apply_event_counts(snapshot, stale, NOW).days_since_last_active == 40


async def test_recorded_events_move_the_next_behaviour_analysis(
        setup: Applicant, record: RecordBehaviorEvent, uow_factory: FakeUnitOfWorkFactory,
        cache: RecordingCache, clock: FakeClock, policy: PricingPolicy) -> None:
    user = setup.user_id
    generate = GenerateOffers(uow_factory, ApplicantReader(uow_factory, cache),
                              ActivePolicySource(uow_factory, clock), RecordingPublisher(),
                              clock, SequentialIds("offer"),
                              HistoryReader(uow_factory, NoHistoryCache(), clock))
    before = await generate.execute(GenerateOffersCommand(user))
    for _ in range(10):
        await record.execute(RecordBehaviorEventCommand(user, T.RATE_COMPARED))
    after = await generate.execute(GenerateOffersCommand(user))

    assert cache.invalidated == [user] * 10
    assert after.behavior.sensitivity_score > before.behavior.sensitivity_score
    expected = sensitivity_score(policy, apply_event_counts(
        setup.behavior, BehaviorEventCounts(rates_compared=10, last_event_at=NOW), NOW))
    assert after.behavior.sensitivity_score == pytest.approx(expected)


async def test_events_outside_their_window_do_not_count(
        setup: Applicant, record: RecordBehaviorEvent, uow_factory: FakeUnitOfWorkFactory,
        clock: FakeClock) -> None:
    user = setup.user_id
    await record.execute(RecordBehaviorEventCommand(user, T.APP_SESSION,
                                                    occurred_at=NOW - timedelta(days=31)))
    await record.execute(RecordBehaviorEventCommand(user, T.APP_SESSION,
                                                    occurred_at=NOW - timedelta(days=29)))
    await record.execute(RecordBehaviorEventCommand(user, T.LOAN_REPAID,
                                                    occurred_at=NOW - timedelta(days=900)))
    async with uow_factory() as uow:
        metrics = (await uow.applicants.get(user)).behavior
    assert metrics.app_sessions_30d == setup.behavior.app_sessions_30d + 1
    assert metrics.loans_repaid == setup.behavior.loans_repaid + 1


async def test_a_repeated_event_id_is_stored_once(setup: Applicant, record: RecordBehaviorEvent,
                                                  uow_factory: FakeUnitOfWorkFactory) -> None:
    command = RecordBehaviorEventCommand(setup.user_id, T.OFFER_VIEWED, event_id="crm-42")
    first = await record.execute(command)
    second = await record.execute(command)
    assert not first.duplicate and second.duplicate
    assert first.event.event_id == "crm-42"
    assert len(uow_factory.store.events) == 1


async def test_bad_events_are_refused_and_nothing_is_stored(
        setup: Applicant, record: RecordBehaviorEvent, uow_factory: FakeUnitOfWorkFactory,
        approved_applicants: list[Applicant]) -> None:
    with pytest.raises(NotFound):
        await record.execute(RecordBehaviorEventCommand("nobody", T.APP_SESSION))
    with pytest.raises(InvalidInput, match="future"):
        await record.execute(RecordBehaviorEventCommand(
            setup.user_id, T.APP_SESSION, occurred_at=NOW + timedelta(minutes=6)))
    with pytest.raises(InvalidInput, match="time zone"):
        await record.execute(RecordBehaviorEventCommand(
            setup.user_id, T.APP_SESSION, occurred_at=NOW.replace(tzinfo=None)))
    with pytest.raises(InvalidInput, match="offerId"):
        await record.execute(RecordBehaviorEventCommand(setup.user_id, T.OFFER_VIEWED,
                                                        offer_id="not-an-offer"))
    with pytest.raises(InvalidInput, match="eventId"):
        await record.execute(RecordBehaviorEventCommand(setup.user_id, T.OFFER_VIEWED,
                                                        event_id="x" * 65))
    assert uow_factory.store.events == {}
