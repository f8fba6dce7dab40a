"""SqlPolicyRepository against SQLite and PostgreSQL: versions, activation, parsing."""

from __future__ import annotations

from dataclasses import replace

import pytest
from sqlalchemy import update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.sql.repositories import SqlPolicyRepository
from adapters.sql.tables import PricingPolicyRow
from adapters.sql.unit_of_work import SqlUnitOfWorkFactory
from application.errors import Conflict
from domain.policy.model import PricingPolicy
from domain.policy.parsing import parse_policy_toml


def version(toml: str, number: int) -> tuple[PricingPolicy, str]:
    source = toml.replace("version = 1\n", f"version = {number}\n", 1)
    policy = parse_policy_toml(source)
    assert policy.version == number
    return policy, source


async def test_no_policy_before_any_is_stored(uow_factory: SqlUnitOfWorkFactory) -> None:
    async with uow_factory() as uow:
        assert await uow.policies.active() is None
        assert await uow.policies.get(1) is None


async def test_add_activate_active_get(uow_factory: SqlUnitOfWorkFactory,
                                       policy_toml: str, policy: PricingPolicy) -> None:
    v2, v2_toml = version(policy_toml, 2)
    v3, v3_toml = version(policy_toml, 3)
    async with uow_factory() as uow:
        await uow.policies.add(policy, policy_toml, activate=True)
        await uow.commit()
    async with uow_factory() as uow:
        assert await uow.policies.active() == policy
        await uow.policies.add(v2, v2_toml, activate=False)
        await uow.commit()
    async with uow_factory() as uow:
        assert await uow.policies.active() == policy  # stored, not active
        assert await uow.policies.get(2) == v2
        await uow.policies.add(v3, v3_toml, activate=True)
        assert await uow.policies.active() == v3       # within the transaction
        await uow.commit()

    async with uow_factory() as uow:
        assert await uow.policies.active() == v3
        assert await uow.policies.get(1) == policy
        assert await uow.policies.get(2) == v2
        assert await uow.policies.get(3) == v3
        assert await uow.policies.get(4) is None


async def test_the_first_policy_is_active_whatever_activate_says(
        uow_factory: SqlUnitOfWorkFactory, policy_toml: str, policy: PricingPolicy) -> None:
    async with uow_factory() as uow:
        await uow.policies.add(policy, policy_toml, activate=False)
        await uow.commit()
    async with uow_factory() as uow:
        assert await uow.policies.active() == policy


async def test_a_stored_version_is_immutable(uow_factory: SqlUnitOfWorkFactory,
                                             policy_toml: str, policy: PricingPolicy) -> None:
    async with uow_factory() as uow:
        await uow.policies.add(policy, policy_toml, activate=True)
        await uow.commit()
    edited_toml = policy_toml.replace('name = "default-unsecured-pl"', 'name = "edited"', 1)
    edited = parse_policy_toml(edited_toml)
    assert edited.version == policy.version and edited != policy
    async with uow_factory() as uow:
        with pytest.raises(Conflict, match="already stored"):
            await uow.policies.add(edited, edited_toml, activate=True)
    async with uow_factory() as uow:
        assert await uow.policies.get(policy.version) == policy


async def test_the_source_must_describe_the_policy(uow_factory: SqlUnitOfWorkFactory,
                                                   policy_toml: str,
                                                   policy: PricingPolicy) -> None:
    async with uow_factory() as uow:
        with pytest.raises(ValueError, match="does not describe"):
            await uow.policies.add(replace(policy, name="something else"), policy_toml, True)
        assert await uow.policies.active() is None


async def test_at_most_one_policy_is_active_in_the_schema(
        uow_factory: SqlUnitOfWorkFactory, sql_engine: AsyncEngine, policy_toml: str,
        policy: PricingPolicy) -> None:
    v2, v2_toml = version(policy_toml, 2)
    async with uow_factory() as uow:
        await uow.policies.add(policy, policy_toml, activate=True)
        await uow.policies.add(v2, v2_toml, activate=False)
        await uow.commit()
    async with sql_engine.connect() as connection:
        with pytest.raises(IntegrityError):
            await connection.execute(update(PricingPolicyRow.__table__).values(active=True))


async def test_parsed_policies_are_memoised(uow_factory: SqlUnitOfWorkFactory,
                                            policy_toml: str, policy: PricingPolicy) -> None:
    async with uow_factory() as uow:
        await uow.policies.add(policy, policy_toml, activate=True)
        await uow.commit()
    async with uow_factory() as uow:
        first = await uow.policies.active()
    async with uow_factory() as uow:
        again = await uow.policies.get(policy.version)
    assert first is again is SqlPolicyRepository._parse(policy.version, policy_toml)
