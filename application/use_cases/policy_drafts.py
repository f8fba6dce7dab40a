"""Policy drafts: validate a document, store it as an inactive version (a draft a challenger
experiment or a later publish can use), and compare two stored versions field by field."""

from __future__ import annotations

from dataclasses import dataclass

from application.errors import NotFound
from application.ports import PolicyVersions, UnitOfWorkFactory
from application.use_cases.simulate_policy import InvalidPolicy, parse_draft
from domain.policy.diff import PolicyChange, diff_policy_toml
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


class PolicyDiff:
    """The structured difference between two stored versions (``NotFound`` for a missing one)."""

    def __init__(self, versions: PolicyVersions) -> None:
        self._versions = versions

    async def execute(self, from_version: int, to_version: int) -> tuple[PolicyChange, ...]:
        sources = []
        for version in (from_version, to_version):
            source = await self._versions.source(version)
            if source is None:
                raise NotFound(f"policy version {version} is not stored", version=version)
            sources.append(source)
        return diff_policy_toml(*sources)
