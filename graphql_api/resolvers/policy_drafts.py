"""Policy drafts: validate a TOML document, store it as an inactive version."""

from __future__ import annotations

import strawberry
from strawberry.types import Info

from application.use_cases.policy_drafts import validate_policy
from application.use_cases.simulate_policy import InvalidPolicy
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


@strawberry.type
class PolicyDraftQueries:
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
