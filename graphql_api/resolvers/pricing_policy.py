"""Pricing policies: read one version (Query.pricingPolicy), publish a new one."""

from __future__ import annotations

from datetime import datetime
from enum import Enum

import strawberry
from strawberry.types import Info

from application.ports import PolicyRecord
from application.use_cases.publish_pricing_policy import OpenOfferAction as DomainAction
from application.use_cases.publish_pricing_policy import PublishReport
from graphql_api.context import GraphQLContext
from graphql_api.errors import call, typed_error


@strawberry.type(description="A published pricing policy version (immutable once published).")
class PricingPolicy:
    version: int
    name: str
    description: str
    active: bool
    published_at: datetime
    validity_working_days: int
    source: str = strawberry.field(description="The TOML document, as published")

    @classmethod
    def of(cls, record: PolicyRecord) -> PricingPolicy:
        p = record.policy
        return cls(version=p.version, name=p.name, description=p.description,
                   active=record.active, published_at=record.published_at,
                   validity_working_days=p.validity_working_days, source=record.source_toml)


@strawberry.enum(description="What happens to open offers priced under an older version.")
class OpenOfferAction(Enum):
    REPRICE = "REPRICE"
    WITHDRAW = "WITHDRAW"


@strawberry.type
class PublishPricingPolicyPayload:
    policy: PricingPolicy
    previous_version: int | None
    repriced_offers: int = strawberry.field(
        description="Open offers replaced by a re-priced successor (status REPRICED)")
    withdrawn_offers: int = strawberry.field(
        description="Open offers withdrawn without a successor")
    generated_offers: int = strawberry.field(
        description="New offers without a predecessor (a re-priced answer with more offers)")

    @classmethod
    def of(cls, report: PublishReport) -> PublishPricingPolicyPayload:
        return cls(policy=PricingPolicy.of(report.record),
                   previous_version=report.previous_version, repriced_offers=report.repriced,
                   withdrawn_offers=report.withdrawn, generated_offers=report.generated)


@strawberry.type
class PricingPolicyQueries:
    @strawberry.field(description="A pricing policy version; omit version for the active one.")
    async def pricing_policy(self, info: Info[GraphQLContext, None],
                             version: int | None = None) -> PricingPolicy:
        record = await call(info.context.services.get_pricing_policy.execute(version))
        return PricingPolicy.of(record)


@strawberry.type
class PricingPolicyMutations:
    @strawberry.mutation(description="Validate and publish a new pricing policy version (TOML, "
                                     "its version above every stored one) and make it active. "
                                     "Open offers of older versions are re-priced (default) or "
                                     "withdrawn, each change sent to offerUpdates.")
    async def publish_pricing_policy(
            self, info: Info[GraphQLContext, None], source: str,
            open_offers: OpenOfferAction = OpenOfferAction.REPRICE,
    ) -> PublishPricingPolicyPayload:
        limit = info.context.services.limits.max_policy_source_bytes
        if len(source.encode()) > limit:
            raise typed_error("BAD_USER_INPUT", f"source is larger than {limit} bytes",
                              field="source", max=limit)
        report = await call(info.context.services.publish_pricing_policy.execute(
            source, DomainAction(open_offers.value)))
        return PublishPricingPolicyPayload.of(report)
