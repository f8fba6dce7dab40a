"""Per-request GraphQL context: the use cases and who is asking."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.websockets import WebSocket

from application.ports import EventSubscriber, PolicyVersions
from application.security import AuditTrail, Principal, RateLimiter, TokenVerifier
from application.use_cases.accept_offer import AcceptOffer
from application.use_cases.challenger import ManageChallenger
from application.use_cases.decline_offer import DeclineOffer
from application.use_cases.generate_offers import GenerateOffers
from application.use_cases.get_offer import GetOffer
from application.use_cases.get_pricing_policy import GetPricingPolicy
from application.use_cases.offer_history import GetApplicant, GetOfferHistory
from application.use_cases.policy_drafts import PolicyDiff, SavePolicyDraft
from application.use_cases.publish_pricing_policy import PublishPricingPolicy
from application.use_cases.record_behavior_event import RecordBehaviorEvent
from application.use_cases.simulate_policy import SimulatePolicy
from application.use_cases.upsert_applicant import UpsertApplicant


@dataclass(frozen=True)
class ApiLimits:
    """Request-size limits enforced by the resolvers (README "Limits")."""

    max_page_size: int = 100                 # ``first`` of any list or connection
    max_policy_source_bytes: int = 256_000   # ``publishPricingPolicy(source)``


@dataclass(frozen=True)
class ApiServices:
    """What the API layer may call; built by ``config`` (the composition root)."""

    generate_offers: GenerateOffers
    get_offer: GetOffer
    subscriber: EventSubscriber
    readiness: Callable[[], Awaitable[dict[str, Any]]]
    offer_history: GetOfferHistory
    get_applicant: GetApplicant
    upsert_applicant: UpsertApplicant
    accept_offer: AcceptOffer
    decline_offer: DeclineOffer
    record_behavior_event: RecordBehaviorEvent
    get_pricing_policy: GetPricingPolicy
    publish_pricing_policy: PublishPricingPolicy
    limits: ApiLimits = field(default_factory=ApiLimits)
    simulate_policy: SimulatePolicy | None = None
    challenger: ManageChallenger | None = None
    save_policy_draft: SavePolicyDraft | None = None
    policy_versions: PolicyVersions | None = None
    policy_diff: PolicyDiff | None = None
    token_verifier: TokenVerifier | None = None
    rate_limiter: RateLimiter | None = None
    audit_trail: AuditTrail | None = None


@dataclass
class GraphQLContext:
    request: Request | WebSocket
    response: Response | None
    services: ApiServices
    request_id: str
    principal: Principal | None = None
    client_ip: str = ""
    connection_params: dict[str, Any] | None = None
    extras: dict[str, Any] = field(default_factory=dict)
    read_attempts: int = 3  # graphql_api.retry: attempts for read-only fields
