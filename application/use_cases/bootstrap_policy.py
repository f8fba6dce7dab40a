"""Make sure a pricing policy is active: on a fresh database, store the shipped default as v1."""

from __future__ import annotations

from application.errors import Conflict
from application.ports import UnitOfWorkFactory
from domain.policy.model import PricingPolicy
from domain.policy.parsing import parse_policy_toml


class BootstrapPolicy:
    def __init__(self, uow_factory: UnitOfWorkFactory) -> None:
        self._uow_factory = uow_factory

    async def execute(self, default_toml: str) -> PricingPolicy:
        policy = parse_policy_toml(default_toml)
        async with self._uow_factory() as uow:
            active = await uow.policies.active()
            if active is not None:
                return active
            try:
                await uow.policies.add(policy, default_toml, activate=True)
                await uow.commit()
                return policy
            except Conflict:
                pass  # another replica bootstrapped first: use what it stored
        async with self._uow_factory() as uow:
            active = await uow.policies.active()
        if active is None:
            raise Conflict("no active pricing policy after a concurrent bootstrap")
        return active
