"""Queries over offers: generate (loanOffers) and read one (offer)."""

from __future__ import annotations

from decimal import Decimal

import strawberry
from strawberry.types import Info

from application.use_cases.generate_offers import GenerateOffersCommand
from graphql_api.audit import note_audit, offer_terms
from graphql_api.context import GraphQLContext
from graphql_api.errors import call, typed_error
from graphql_api.retry import retry_read
from graphql_api.types import LoanOffer, LoanOfferRequest, LoanOfferResponse

#: Far above any policy's maximum amount; the policy itself says which amounts it lends. Checked
#: first because quantize() cannot represent 1e+115 to the paisa (decimal.InvalidOperation).
MAX_REQUESTED_AMOUNT = Decimal("1e12")


def _amount(value: float | None) -> Decimal | None:
    if value is None:
        return None
    amount = Decimal(repr(value))
    if abs(amount) > MAX_REQUESTED_AMOUNT:
        raise typed_error("BAD_USER_INPUT", "requestedAmount is beyond any loan amount",
                          field="requestedAmount")
    if amount != amount.quantize(Decimal("0.01")):
        raise typed_error("BAD_USER_INPUT", "requestedAmount has more than 2 decimals",
                          field="requestedAmount")
    return amount


@strawberry.type
class OfferQueries:
    @strawberry.field(description="Ranked, explained loan offers for a customer.")
    async def loan_offers(self, info: Info[GraphQLContext, None],
                          request: LoanOfferRequest) -> LoanOfferResponse:
        command = GenerateOffersCommand(str(request.user_id), _amount(request.requested_amount),
                                        request.requested_tenure)
        offer_set = await call(info.context.services.generate_offers.execute(command))
        note_audit(info, policyVersion=offer_set.policy_version,
                   decision=offer_set.decision.value,
                   reasons=[r.code for r in offer_set.reasons],
                   offers=[offer_terms(o) for o in offer_set.offers])
        return LoanOfferResponse.of(offer_set)

    @strawberry.field(description="One offer by id, with its current status.")
    async def offer(self, info: Info[GraphQLContext, None], offer_id: strawberry.ID) -> LoanOffer:
        get_offer = info.context.services.get_offer
        offer = await call(retry_read(lambda: get_offer.execute(str(offer_id)),
                                      info.context.read_attempts))
        return LoanOffer.of(offer)
