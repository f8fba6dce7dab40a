"""AcceptOffer and DeclineOffer with in-memory fakes: one transaction, idempotent by key,
typed conflicts, the customer's other offers withdrawn on acceptance, events after commit."""

from __future__ import annotations

from datetime import timedelta

import pytest

from application.applicant_reader import ApplicantReader, HistoryReader
from application.errors import Conflict, Forbidden, InvalidInput, NotFound
from application.policy_source import ActivePolicySource
from application.use_cases.accept_offer import AcceptOffer
from application.use_cases.decide_offer import OfferAnswerCommand
from application.use_cases.decline_offer import DeclineOffer
from application.use_cases.generate_offers import GenerateOffers, GenerateOffersCommand
from domain.applicant import Applicant
from domain.offers import OfferSet, OfferStatus
from domain.policy.model import PricingPolicy
from tests.unit.use_cases.fakes import (
    FakeClock,
    FakeUnitOfWorkFactory,
    NoHistoryCache,
    RecordingCache,
    RecordingPublisher,
    SequentialIds,
)


@pytest.fixture
async def offers(uow_factory: FakeUnitOfWorkFactory, clock: FakeClock, cache: RecordingCache,
                 publisher: RecordingPublisher, ids: SequentialIds, policy: PricingPolicy,
                 policy_toml: str, approved_applicants: list[Applicant]) -> OfferSet:
    """Two answers for one customer (the second with several offers), events cleared."""
    async with uow_factory() as uow:
        await uow.policies.add(policy, policy_toml, activate=True)
        await uow.applicants.add_many(approved_applicants)
        await uow.commit()
    generate = GenerateOffers(uow_factory, ApplicantReader(uow_factory, cache),
                              ActivePolicySource(uow_factory, clock), publisher, clock, ids,
                              HistoryReader(uow_factory, NoHistoryCache(), clock))
    user = approved_applicants[0].user_id
    await generate.execute(GenerateOffersCommand(user))
    offer_set = await generate.execute(GenerateOffersCommand(user))
    publisher.events.clear()
    return offer_set


@pytest.fixture
def accept(uow_factory: FakeUnitOfWorkFactory, publisher: RecordingPublisher,
           clock: FakeClock, cache: RecordingCache) -> AcceptOffer:
    return AcceptOffer(uow_factory, publisher, clock, cache)


@pytest.fixture
def decline(uow_factory: FakeUnitOfWorkFactory, publisher: RecordingPublisher,
            clock: FakeClock) -> DeclineOffer:
    return DeclineOffer(uow_factory, publisher, clock)


def statuses(uow_factory: FakeUnitOfWorkFactory) -> dict[str, OfferStatus]:
    return {i: o.status for i, o in uow_factory.store.offers.items()}


async def test_accepting_withdraws_every_other_open_offer_of_the_user(
        offers: OfferSet, accept: AcceptOffer, uow_factory: FakeUnitOfWorkFactory,
        publisher: RecordingPublisher, clock: FakeClock, cache: RecordingCache) -> None:
    chosen = offers.offers[1]
    cache.invalidated.clear()
    outcome = await accept.execute(OfferAnswerCommand(chosen.offer_id))
    assert cache.invalidated == [chosen.user_id]  # the history aggregates changed

    assert outcome.offer.offer_id == chosen.offer_id
    assert outcome.offer.status is OfferStatus.ACCEPTED
    assert not outcome.replayed
    assert outcome.decided_at == clock.now()
    after = statuses(uow_factory)
    others = {i for i in after if i != chosen.offer_id}
    assert len(others) >= len(offers.offers)  # both answers' offers
    assert {after[i] for i in others} == {OfferStatus.WITHDRAWN}
    assert {o.offer_id for o in outcome.withdrawn} == others
    assert publisher.types()[0] == ("ACCEPTED", chosen.offer_id)
    assert sorted(publisher.types()[1:]) == sorted(("WITHDRAWN", i) for i in others)


async def test_the_same_key_returns_the_stored_answer_and_acts_once(
        offers: OfferSet, accept: AcceptOffer, publisher: RecordingPublisher,
        clock: FakeClock) -> None:
    command = OfferAnswerCommand(offers.offers[0].offer_id, idempotency_key="key-1")
    first = await accept.execute(command)
    events = list(publisher.events)
    clock.advance(timedelta(minutes=3))
    again = await accept.execute(command)

    assert again.replayed and not first.replayed
    assert again.offer == first.offer
    assert again.withdrawn == first.withdrawn
    assert again.decided_at == first.decided_at
    assert publisher.events == events  # nothing published twice


async def test_a_key_used_for_another_offer_is_a_conflict(offers: OfferSet,
                                                          accept: AcceptOffer) -> None:
    await accept.execute(OfferAnswerCommand(offers.offers[0].offer_id, idempotency_key="k"))
    with pytest.raises(Conflict) as caught:
        await accept.execute(OfferAnswerCommand(offers.offers[1].offer_id, idempotency_key="k"))
    assert caught.value.details["reason"] == "IDEMPOTENCY_KEY_REUSED"


async def test_accepting_twice_without_a_key_is_a_conflict(offers: OfferSet,
                                                           accept: AcceptOffer) -> None:
    offer_id = offers.offers[0].offer_id
    await accept.execute(OfferAnswerCommand(offer_id))
    with pytest.raises(Conflict) as caught:
        await accept.execute(OfferAnswerCommand(offer_id))
    assert caught.value.details["reason"] == "OFFER_ALREADY_ACCEPTED"
    assert caught.value.code == "CONFLICT"


async def test_a_withdrawn_offer_cannot_be_accepted(offers: OfferSet, accept: AcceptOffer,
                                                    uow_factory: FakeUnitOfWorkFactory) -> None:
    await accept.execute(OfferAnswerCommand(offers.offers[0].offer_id))
    with pytest.raises(Conflict) as caught:
        await accept.execute(OfferAnswerCommand(offers.offers[1].offer_id, idempotency_key="n"))
    assert caught.value.details["reason"] == "OFFER_WITHDRAWN"
    assert uow_factory.store.idempotency == {
        k: v for k, v in uow_factory.store.idempotency.items() if k[1] != "n"}


async def test_an_offer_past_valid_until_is_a_conflict_and_nothing_changes(
        offers: OfferSet, accept: AcceptOffer, uow_factory: FakeUnitOfWorkFactory,
        clock: FakeClock, publisher: RecordingPublisher) -> None:
    offer = offers.offers[0]
    clock.current = offer.valid_until
    before = statuses(uow_factory)
    with pytest.raises(Conflict) as caught:
        await accept.execute(OfferAnswerCommand(offer.offer_id, idempotency_key="late"))
    assert caught.value.details["reason"] == "OFFER_EXPIRED"
    assert statuses(uow_factory) == before
    assert publisher.events == []


async def test_unknown_offer_foreign_offer_and_bad_key(offers: OfferSet,
                                                      accept: AcceptOffer) -> None:
    with pytest.raises(NotFound):
        await accept.execute(OfferAnswerCommand("no-such-offer"))
    with pytest.raises(Forbidden):
        await accept.execute(OfferAnswerCommand(offers.offers[0].offer_id,
                                                acting_user_id="someone-else"))
    for key in ("", "has space", "x" * 129):
        with pytest.raises(InvalidInput):
            await accept.execute(OfferAnswerCommand(offers.offers[0].offer_id,
                                                    idempotency_key=key))


async def test_declining_leaves_the_other_offers_open(
        offers: OfferSet, decline: DeclineOffer, accept: AcceptOffer,
        uow_factory: FakeUnitOfWorkFactory, publisher: RecordingPublisher) -> None:
    declined = offers.offers[0]
    outcome = await decline.execute(OfferAnswerCommand(declined.offer_id, idempotency_key="d"))
    assert outcome.offer.status is OfferStatus.DECLINED
    assert outcome.withdrawn == ()
    after = statuses(uow_factory)
    assert [s for i, s in after.items() if i != declined.offer_id].count(
        OfferStatus.ACTIVE) == len(after) - 1
    assert publisher.types() == [("DECLINED", declined.offer_id)]
    # The declined offer can no longer be accepted; a second decline replays.
    with pytest.raises(Conflict) as caught:
        await accept.execute(OfferAnswerCommand(declined.offer_id))
    assert caught.value.details["reason"] == "OFFER_DECLINED"
    assert (await decline.execute(OfferAnswerCommand(declined.offer_id,
                                                     idempotency_key="d"))).replayed


async def test_a_failed_commit_with_the_key_taken_replays_the_winner(
        offers: OfferSet, uow_factory: FakeUnitOfWorkFactory, publisher: RecordingPublisher,
        clock: FakeClock) -> None:
    """The race of two requests with one key: the loser finds the key taken at commit and
    answers with what the winner stored."""
    offer_id = offers.offers[0].offer_id
    winner = AcceptOffer(uow_factory, publisher, clock)

    class RacingAccept(AcceptOffer):
        async def side_effects(self, uow, offer):  # the winner commits in between
            await winner.execute(OfferAnswerCommand(offer_id, idempotency_key="race"))
            return await super().side_effects(uow, offer)

    loser = RacingAccept(uow_factory, publisher, clock)
    outcome = await loser.execute(OfferAnswerCommand(offer_id, idempotency_key="race"))
    assert outcome.replayed
    assert outcome.offer.status is OfferStatus.ACCEPTED
    assert [t for t, _ in publisher.types()].count("ACCEPTED") == 1
