"""GenerateOffers' reads: the caches first; what they miss, in one unit of work."""

from __future__ import annotations

from application.applicant_reader import ApplicantReader, HistoryReader
from application.policy_source import ActivePolicySource
from application.use_cases.generate_offers import GenerateOffers, GenerateOffersCommand
from domain.applicant import Applicant
from domain.policy.model import PricingPolicy
from tests.unit.use_cases.fakes import (
    FakeClock,
    FakeUnitOfWorkFactory,
    NoHistoryCache,
    RecordingCache,
    RecordingPublisher,
    SequentialIds,
)


async def test_an_applicant_and_history_both_missing_are_read_in_one_unit_of_work(
        uow_factory: FakeUnitOfWorkFactory, cache: RecordingCache, clock: FakeClock,
        policy: PricingPolicy, policy_toml: str, approved_applicants: list[Applicant]) -> None:
    async with uow_factory() as uow:
        await uow.policies.add(policy, policy_toml, activate=True)
        await uow.applicants.add_many(approved_applicants)
        await uow.commit()
    policies = ActivePolicySource(uow_factory, clock)
    await policies.active()
    generate = GenerateOffers(uow_factory, ApplicantReader(uow_factory, cache), policies,
                              RecordingPublisher(), clock, SequentialIds("offer"),
                              HistoryReader(uow_factory, NoHistoryCache(), clock))
    before = uow_factory.opened
    offer_set = await generate.execute(GenerateOffersCommand(approved_applicants[0].user_id))
    # both caches miss (the fakes always do): one unit of work reads both, one writes
    assert uow_factory.opened - before == 2
    assert offer_set.offers and offer_set.user_id == approved_applicants[0].user_id
