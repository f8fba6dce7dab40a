"""SqlUnitOfWork: one transaction; nothing durable without commit."""

from __future__ import annotations

import asyncio

import pytest

from adapters.sql.unit_of_work import SqlUnitOfWork, SqlUnitOfWorkFactory
from application.ports import UnitOfWork
from domain.applicant import Applicant
from domain.offers import OfferSet
from domain.policy.model import PricingPolicy
from tests.integration.conftest import OfferSetFactory


async def _nothing_stored(uow_factory: SqlUnitOfWorkFactory, applicant: Applicant,
                          offer_id: str) -> None:
    async with uow_factory() as uow:
        assert await uow.applicants.get(applicant.user_id) is None
        assert await uow.applicants.count() == 0
        assert await uow.offers.get(offer_id) is None
        assert (await uow.offers.history(applicant.user_id, 10, None)).total == 0
        assert await uow.policies.active() is None


async def test_leaving_without_commit_leaves_nothing(
        uow_factory: SqlUnitOfWorkFactory, applicant: Applicant, policy: PricingPolicy,
        policy_toml: str, make_offer_set: OfferSetFactory) -> None:
    offer_set = make_offer_set()
    async with uow_factory() as uow:
        await uow.applicants.upsert(applicant)
        await uow.applicants.add_many([applicant])
        await uow.offers.add_offer_set(offer_set)
        await uow.policies.add(policy, policy_toml, activate=True)
        assert await uow.applicants.get(applicant.user_id) == applicant  # visible inside
    await _nothing_stored(uow_factory, applicant, offer_set.offers[0].offer_id)


async def test_an_exception_rolls_back(uow_factory: SqlUnitOfWorkFactory,
                                       applicant: Applicant,
                                       make_offer_set: OfferSetFactory) -> None:
    offer_set = make_offer_set()
    with pytest.raises(RuntimeError, match="boom"):
        async with uow_factory() as uow:
            await uow.applicants.upsert(applicant)
            await uow.offers.add_offer_set(offer_set)
            raise RuntimeError("boom")
    await _nothing_stored(uow_factory, applicant, offer_set.offers[0].offer_id)


async def test_commit_makes_the_work_durable_and_later_work_is_not(
        uow_factory: SqlUnitOfWorkFactory, applicant: Applicant,
        make_offer_set: OfferSetFactory) -> None:
    offer_set = make_offer_set()
    async with uow_factory() as uow:
        await uow.applicants.upsert(applicant)
        await uow.commit()
        await uow.offers.add_offer_set(offer_set)  # after the commit, never committed
    async with uow_factory() as uow:
        assert await uow.applicants.get(applicant.user_id) == applicant
        assert await uow.offers.get(offer_set.offers[0].offer_id) is None


async def test_the_factory_makes_fresh_units_of_work(uow_factory: SqlUnitOfWorkFactory) -> None:
    first, second = uow_factory(), uow_factory()
    assert isinstance(first, SqlUnitOfWork) and first is not second
    port: UnitOfWork = first  # structurally a UnitOfWork
    async with port as uow:
        assert uow is first
        with pytest.raises(RuntimeError, match="already in use"):
            await first.__aenter__()
    with pytest.raises(RuntimeError, match="outside"):
        await first.commit()


async def test_concurrent_units_of_work_lose_no_writes(
        uow_factory: SqlUnitOfWorkFactory, applicant: Applicant,
        make_offer_set: OfferSetFactory) -> None:
    sets = [make_offer_set() for _ in range(12)]

    async def store(offer_set: OfferSet) -> None:
        async with uow_factory() as uow:
            await uow.offers.add_offer_set(offer_set)
            await uow.commit()

    await asyncio.gather(*(store(s) for s in sets))
    async with uow_factory() as uow:
        page = await uow.offers.history(applicant.user_id, 1000, None)
    assert page.total == sum(len(s.offers) for s in sets) == len(page.offers)
