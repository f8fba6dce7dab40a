"""Make sure a pricing policy is active: on a fresh database, store the shipped default as v1."""

from __future__ import annotations

from application.ports import UnitOfWorkFactory
from domain.policy.model import PricingPolicy
from domain.policy.parsing import parse_policy_toml


class BootstrapPolicy:
    def __init__(self, uow_factory: UnitOfWorkFactory) -> None:
        self._uow_factory = uow_factory

    async def execute(self, default_toml: str) -> PricingPolicy:
        async with self._uow_factory() as uow:
            active = await uow.policies.active()
            if active is not None:
                return active
            policy = parse_policy_toml(default_toml)
            await uow.policies.add(policy, default_toml, activate=True)
            await uow.commit()
            return policy
