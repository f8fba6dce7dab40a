"""Per-request GraphQL context: the use cases and who is asking."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.websockets import WebSocket

from application.ports import EventSubscriber, PolicyVersions
from application.use_cases.challenger import ManageChallenger
from application.use_cases.generate_offers import GenerateOffers
from application.use_cases.get_offer import GetOffer
from application.use_cases.offer_history import GetApplicant, GetOfferHistory
from application.use_cases.policy_drafts import PolicyDiff, SavePolicyDraft
from application.use_cases.simulate_policy import SimulatePolicy
from application.use_cases.upsert_applicant import UpsertApplicant


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
    simulate_policy: SimulatePolicy | None = None
    challenger: ManageChallenger | None = None
    save_policy_draft: SavePolicyDraft | None = None
    policy_versions: PolicyVersions | None = None
    policy_diff: PolicyDiff | None = None


@dataclass
class GraphQLContext:
    request: Request | WebSocket
    response: Response | None
    services: ApiServices
    request_id: str
    extras: dict[str, Any] = field(default_factory=dict)
    read_attempts: int = 3  # graphql_api.retry: attempts for read-only fields
