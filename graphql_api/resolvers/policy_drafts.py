"""Policy drafts: validate a TOML document, store it as an inactive version, list versions,
compare two versions field by field."""

from __future__ import annotations

from datetime import datetime

import strawberry
from strawberry.types import Info

from application.use_cases.policy_drafts import validate_policy
from application.use_cases.simulate_policy import InvalidPolicy
from domain.policy.diff import ChangeKind
from graphql_api.context import GraphQLContext
from graphql_api.errors import call, typed_error


@strawberry.type
class PolicyProblem:
    path: str
    message: str


@strawberry.type(description="A policy document checked without storing it.")
class PolicyValidation:
    valid: bool
    version: int | None
    name: str | None
    problems: list[PolicyProblem]


@strawberry.type(description="A stored, inactive policy version.")
class PolicyDraft:
    version: int
    name: str
    description: str


PolicyChangeKind = strawberry.enum(ChangeKind, name="PolicyChangeKind")


@strawberry.type(description="One difference between two policy versions; values are JSON text.")
class PolicyChange:
    path: str
    kind: PolicyChangeKind
    before: str | None
    after: str | None


@strawberry.type
class PolicyVersion:
    version: int
    name: str
    active: bool
    published_at: datetime


@strawberry.type
class PolicyDraftQueries:
    @strawberry.field(description="Every stored policy version (published or draft), oldest first.")
    async def policy_versions(self, info: Info[GraphQLContext, None]) -> list[PolicyVersion]:
        versions = info.context.services.policy_versions
        if versions is None:
            raise typed_error("UNAVAILABLE", "policy versions are not configured")
        return [PolicyVersion(version=v.version, name=v.name, active=v.active,
                              published_at=v.published_at) for v in await call(versions.list())]

    @strawberry.field(description="What changed from one stored version to another, field by "
                                  "field (bands and rules matched by name).")
    async def policy_diff(self, info: Info[GraphQLContext, None], from_version: int,
                          to_version: int) -> list[PolicyChange]:
        use_case = info.context.services.policy_diff
        if use_case is None:
            raise typed_error("UNAVAILABLE", "policy diff is not configured")
        changes = await call(use_case.execute(from_version, to_version))
        return [PolicyChange(path=c.path, kind=c.kind, before=c.before, after=c.after)
                for c in changes]

    @strawberry.field(description="Validate a policy document (TOML); every problem is named by "
                                  "its path.")
    def validate_policy(self, draft: str) -> PolicyValidation:
        result = validate_policy(draft)
        policy = result.policy
        return PolicyValidation(
            valid=policy is not None, version=policy.version if policy else None,
            name=policy.name if policy else None,
            problems=[PolicyProblem(path=p, message=m) for p, m in result.problems])


@strawberry.type
class PolicyDraftMutations:
    @strawberry.mutation(description="Store a valid policy document as a new inactive version "
                                     "(not used for pricing until published or started as a "
                                     "challenger). A draft with problems is BAD_USER_INPUT with "
                                     "extensions.problems [{path, message}].")
    async def save_policy_draft(self, info: Info[GraphQLContext, None], draft: str
                                ) -> PolicyDraft:
        use_case = info.context.services.save_policy_draft
        if use_case is None:
            raise typed_error("UNAVAILABLE", "policy drafts are not configured")
        try:
            policy = await call(use_case.execute(draft))
        except Exception as exc:
            cause = exc.__cause__
            if isinstance(cause, InvalidPolicy):
                raise typed_error(
                    "BAD_USER_INPUT", cause.message, field="draft",
                    problems=[{"path": p, "message": m} for p, m in cause.problems]) from cause
            raise
        return PolicyDraft(version=policy.version, name=policy.name,
                           description=policy.description)
