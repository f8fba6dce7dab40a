"""PublishPricingPolicy and ExpireOffers with fakes: versions only go up, open offers of older
versions are re-priced (or withdrawn) with one event per change, due offers expire once."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from application.applicant_reader import ApplicantReader, HistoryReader
from application.errors import Conflict, InvalidInput
from application.policy_source import ActivePolicySource
from application.use_cases.expire_offers import ExpireOffers
from application.use_cases.generate_offers import GenerateOffers, GenerateOffersCommand
from application.use_cases.get_pricing_policy import GetPricingPolicy
from application.use_cases.publish_pricing_policy import OpenOfferAction, PublishPricingPolicy
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


def next_version(toml: str, version: int) -> str:
    text = toml.replace("version = 1\n", f"version = {version}\n", 1)
    assert f"version = {version}\n" in text
    return text


@pytest.fixture
def policy_source(uow_factory: FakeUnitOfWorkFactory, clock: FakeClock) -> ActivePolicySource:
    return ActivePolicySource(uow_factory, clock)


@pytest.fixture
async def open_answers(uow_factory: FakeUnitOfWorkFactory, clock: FakeClock,
                       cache: RecordingCache, publisher: RecordingPublisher, ids: SequentialIds,
                       policy: PricingPolicy, policy_toml: str,
                       policy_source: ActivePolicySource,
                       approved_applicants: list[Applicant]) -> list[OfferSet]:
    async with uow_factory() as uow:
        await uow.policies.add(policy, policy_toml, activate=True)
        await uow.applicants.add_many(approved_applicants)
        await uow.commit()
    generate = GenerateOffers(uow_factory, ApplicantReader(uow_factory, cache), policy_source,
                              publisher, clock, ids, HistoryReader(uow_factory, NoHistoryCache(), clock))
    answers = [await generate.execute(GenerateOffersCommand(a.user_id))
               for a in approved_applicants[:3]]
    publisher.events.clear()
    return answers


def publisher_of(uow_factory, policy_source, publisher, clock, ids, hooks=(), cache=None):
    return PublishPricingPolicy(uow_factory, policy_source, publisher, clock, ids, cache,
                                hooks=hooks, answers_per_batch=2)


async def test_publishing_reprices_every_open_offer_of_the_replaced_version(
        open_answers: list[OfferSet], uow_factory: FakeUnitOfWorkFactory,
        policy_source: ActivePolicySource, publisher: RecordingPublisher, clock: FakeClock,
        ids: SequentialIds, policy_toml: str, cache: RecordingCache) -> None:
    seen: list[int] = []

    async def hook(policy: PricingPolicy) -> None:
        seen.append(policy.version)

    publish = publisher_of(uow_factory, policy_source, publisher, clock, ids, hooks=[hook],
                           cache=cache)
    report = await publish.execute(next_version(policy_toml, 2))
    assert cache.cleared == 1  # nothing cached under version 1 survives

    old = [o for s in open_answers for o in s.offers]
    store = uow_factory.store.offers
    assert report.record.policy.version == 2 and report.record.active
    assert report.previous_version == 1
    assert seen == [2]
    assert (await policy_source.active()).version == 2
    assert report.repriced + report.withdrawn == len(old)
    for offer in old:
        now = store[offer.offer_id]
        assert now.status in (OfferStatus.REPRICED, OfferStatus.WITHDRAWN)
        if now.status is OfferStatus.REPRICED:
            successor = store[now.replaced_by]
            assert successor.policy_version == 2
            assert successor.status is OfferStatus.ACTIVE
            assert successor.rank == offer.rank
    # One event per change: REPRICED carries the new offer and names the old one.
    repriced = [e for e in publisher.events if e.type.value == "REPRICED"]
    assert len(repriced) == report.repriced
    assert {e.previous_offer_id for e in repriced} == {
        o.offer_id for o in old if store[o.offer_id].status is OfferStatus.REPRICED}
    assert all(store[e.offer.offer_id].policy_version == 2 for e in repriced)
    # Nothing of version 1 is left open; publishing again with the same version is refused.
    assert not [o for o in store.values()
                if o.status is OfferStatus.ACTIVE and o.policy_version == 1]
    with pytest.raises(Conflict) as caught:
        await publish.execute(next_version(policy_toml, 2))
    assert caught.value.details["reason"] == "POLICY_ALREADY_ACTIVE"
    record = await GetPricingPolicy(uow_factory).execute()
    assert record.policy.version == 2
    assert (await GetPricingPolicy(uow_factory).execute(1)).active is False


async def test_withdraw_mode_and_answered_offers(
        open_answers: list[OfferSet], uow_factory: FakeUnitOfWorkFactory,
        policy_source: ActivePolicySource, publisher: RecordingPublisher, clock: FakeClock,
        ids: SequentialIds, policy_toml: str) -> None:
    accepted = open_answers[0].offers[0]
    async with uow_factory() as uow:
        await uow.offers.transition(accepted.offer_id, OfferStatus.ACCEPTED)
        await uow.commit()
    publish = publisher_of(uow_factory, policy_source, publisher, clock, ids)
    report = await publish.execute(next_version(policy_toml, 5), OpenOfferAction.WITHDRAW)

    store = uow_factory.store.offers
    total = sum(len(s.offers) for s in open_answers)
    assert report.withdrawn == total - 1 and report.repriced == 0
    assert store[accepted.offer_id].status is OfferStatus.ACCEPTED  # the customer's answer stays
    assert [e.type.value for e in publisher.events] == ["WITHDRAWN"] * (total - 1)


async def test_an_invalid_policy_is_refused_with_every_error(
        open_answers: list[OfferSet], uow_factory: FakeUnitOfWorkFactory,
        policy_source: ActivePolicySource, publisher: RecordingPublisher, clock: FakeClock,
        ids: SequentialIds, policy_toml: str) -> None:
    publish = publisher_of(uow_factory, policy_source, publisher, clock, ids)
    broken = next_version(policy_toml, 3).replace("validity_working_days = 3",
                                                  "validity_working_days = 1")
    with pytest.raises(InvalidInput) as caught:
        await publish.execute(broken)
    assert any("validity_working_days" in e for e in caught.value.details["errors"])
    with pytest.raises(InvalidInput):
        await publish.execute("version = [")
    assert (await GetPricingPolicy(uow_factory).execute()).policy.version == 1
    assert publisher.events == []


async def test_expiry_marks_due_offers_once_and_tells_subscribers(
        open_answers: list[OfferSet], uow_factory: FakeUnitOfWorkFactory,
        publisher: RecordingPublisher, clock: FakeClock) -> None:
    expire = ExpireOffers(uow_factory, publisher, clock, batch_size=2)
    assert await expire.execute() == 0
    offers = [o for s in open_answers for o in s.offers]
    clock.current = max(o.valid_until for o in offers) + timedelta(seconds=1)
    assert await expire.execute() == len(offers)
    assert await expire.execute() == 0
    assert sorted(publisher.types()) == sorted(("EXPIRED", o.offer_id) for o in offers)
    assert {o.status for o in uow_factory.store.offers.values()} == {OfferStatus.EXPIRED}


async def test_stored_versions_publish_as_they_are_and_never_change(
        open_answers: list[OfferSet], uow_factory: FakeUnitOfWorkFactory,
        policy_source: ActivePolicySource, publisher: RecordingPublisher, clock: FakeClock,
        ids: SequentialIds, policy: PricingPolicy, policy_toml: str) -> None:
    """A saved draft is published by sending its document; version 1 again is a rollback; a
    stored version with other content, or a new version below the latest, is refused."""
    draft = next_version(policy_toml, 3)
    async with uow_factory() as uow:
        await uow.policies.add(replace(policy, version=3), draft, activate=False)
        await uow.commit()
    publish = publisher_of(uow_factory, policy_source, publisher, clock, ids)

    to_draft = await publish.execute(draft)
    assert to_draft.record.policy.version == 3 and to_draft.previous_version == 1
    assert to_draft.repriced + to_draft.withdrawn == sum(len(s.offers) for s in open_answers)

    for source, reason in ((next_version(policy_toml, 2), "POLICY_VERSION_NOT_NEWER"),
                           (draft.replace("validity_working_days = 3",
                                          "validity_working_days = 4"), "POLICY_VERSION_EXISTS")):
        with pytest.raises(Conflict) as caught:
            await publish.execute(source)
        assert caught.value.details["reason"] == reason

    publisher.events.clear()
    back = await publish.execute(policy_toml)  # roll back to version 1
    assert back.record.policy.version == 1 and back.previous_version == 3
    assert (await policy_source.active()).version == 1
    open_now = [o for o in uow_factory.store.offers.values() if o.status is OfferStatus.ACTIVE]
    assert open_now and {o.policy_version for o in open_now} == {1}
    assert {e.type.value for e in publisher.events} <= {"REPRICED", "WITHDRAWN", "GENERATED"}
