"""Policy drafts: validate a document, store it as an inactive version (a draft a challenger
experiment or a later publish can use), and compare two stored versions."""

from __future__ import annotations

from dataclasses import dataclass

from application.ports import UnitOfWorkFactory
from application.use_cases.simulate_policy import InvalidPolicy, parse_draft
from domain.policy.model import PricingPolicy


@dataclass(frozen=True, slots=True)
class PolicyValidation:
    policy: PricingPolicy | None
    problems: tuple[tuple[str, str], ...]    # (path, message)


def validate_policy(toml_text: str) -> PolicyValidation:
    try:
        return PolicyValidation(parse_draft(toml_text), ())
    except InvalidPolicy as exc:
        return PolicyValidation(None, exc.problems)


class SavePolicyDraft:
    """Store a valid policy document as a new, inactive version (versions are immutable:
    a version already stored is a ``Conflict``)."""

    def __init__(self, uow_factory: UnitOfWorkFactory) -> None:
        self._uow_factory = uow_factory

    async def execute(self, toml_text: str) -> PricingPolicy:
        policy = parse_draft(toml_text)
        async with self._uow_factory() as uow:
            await uow.policies.add(policy, toml_text, activate=False)
            await uow.commit()
        return policy
