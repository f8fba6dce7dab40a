"""BootstrapPolicy: replicas starting together on one empty database agree on one policy."""

from __future__ import annotations

import asyncio

import pytest

from adapters.sql.unit_of_work import SqlUnitOfWorkFactory
from application.errors import Conflict
from application.use_cases.bootstrap_policy import BootstrapPolicy
from domain.policy.model import PricingPolicy


async def test_concurrent_bootstraps_install_the_default_once(
        uow_factory: SqlUnitOfWorkFactory, policy_toml: str, policy: PricingPolicy) -> None:
    bootstrap = BootstrapPolicy(uow_factory)
    results = await asyncio.gather(*(bootstrap.execute(policy_toml) for _ in range(4)))
    assert {p.version for p in results} == {policy.version}
    async with uow_factory() as uow:
        active = await uow.policies.active()
    assert active == policy


async def test_a_version_taken_by_a_concurrent_writer_is_a_conflict_at_commit(
        uow_factory: SqlUnitOfWorkFactory, policy_toml: str, policy: PricingPolicy) -> None:
    first, second = uow_factory(), uow_factory()
    async with first, second:
        await second.policies.get(policy.version)  # both transactions see no version 1
        await first.policies.add(policy, policy_toml, activate=True)
        await first.commit()
        with pytest.raises(Conflict):
            await second.policies.add(policy, policy_toml, activate=True)
            await second.commit()
    async with uow_factory() as uow:  # nothing half-written, the first copy intact
        assert await uow.policies.active() == policy
