"""Mutations: the customer's answer to an offer (acceptOffer, declineOffer)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import strawberry
from strawberry.types import Info

from application.offer_outcome import OfferOutcome
from application.use_cases.decide_offer import OfferAnswerCommand
from graphql_api.audit import note_audit, offer_terms
from graphql_api.context import GraphQLContext
from graphql_api.errors import call
from graphql_api.types import LoanOffer


@strawberry.type(description="The accepted offer and the offers its acceptance withdrew.")
class AcceptOfferPayload:
    offer: LoanOffer
    withdrawn_offers: list[LoanOffer] = strawberry.field(
        description="The customer's other open offers, withdrawn by this acceptance")
    accepted_at: datetime
    replayed: bool = strawberry.field(
        description="True when this is the stored answer to an earlier request with the same "
                    "idempotencyKey")

    @classmethod
    def of(cls, outcome: OfferOutcome) -> AcceptOfferPayload:
        return cls(offer=LoanOffer.of(outcome.offer),
                   withdrawn_offers=[LoanOffer.of(o) for o in outcome.withdrawn],
                   accepted_at=outcome.decided_at, replayed=outcome.replayed)


@strawberry.type
class DeclineOfferPayload:
    offer: LoanOffer
    declined_at: datetime
    replayed: bool

    @classmethod
    def of(cls, outcome: OfferOutcome) -> DeclineOfferPayload:
        return cls(offer=LoanOffer.of(outcome.offer), declined_at=outcome.decided_at,
                   replayed=outcome.replayed)


def _acting_user(info: Info[GraphQLContext, None]) -> str | None:
    """The customer the caller acts as, when authentication says so
    (``context.extras['acting_user_id']``); ``None`` for trusted callers."""
    user = info.context.extras.get("acting_user_id")
    return str(user) if user is not None else None


IdempotencyKey = Annotated[str | None, strawberry.argument(
    description="Client-chosen key (1-128 printable characters, e.g. a UUID): repeating the "
                "request with the same key returns the stored answer instead of acting twice.")]


@strawberry.type
class OfferAnswerMutations:
    @strawberry.mutation(description="Accept an active offer. One transaction: the offer becomes "
                                     "ACCEPTED and the customer's other open offers WITHDRAWN. "
                                     "An offer that is expired, withdrawn, re-priced, declined "
                                     "or already accepted is a CONFLICT (extensions.reason).")
    async def accept_offer(self, info: Info[GraphQLContext, None], offer_id: strawberry.ID,
                           idempotency_key: IdempotencyKey = None) -> AcceptOfferPayload:
        command = OfferAnswerCommand(str(offer_id), idempotency_key, _acting_user(info))
        outcome = await call(info.context.services.accept_offer.execute(command))
        note_audit(info, policyVersion=outcome.offer.policy_version, **offer_terms(outcome.offer))
        return AcceptOfferPayload.of(outcome)

    @strawberry.mutation(description="Decline an active offer; the customer's other offers stay "
                                     "open. Same CONFLICT rules as acceptOffer.")
    async def decline_offer(self, info: Info[GraphQLContext, None], offer_id: strawberry.ID,
                            idempotency_key: IdempotencyKey = None) -> DeclineOfferPayload:
        command = OfferAnswerCommand(str(offer_id), idempotency_key, _acting_user(info))
        outcome = await call(info.context.services.decline_offer.execute(command))
        note_audit(info, policyVersion=outcome.offer.policy_version, **offer_terms(outcome.offer))
        return DeclineOfferPayload.of(outcome)
