"""The Strawberry schema: queries over the use cases, nothing more."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

import strawberry
from strawberry.extensions import (
    MaxAliasesLimiter,
    MaxTokensLimiter,
    ParserCache,
    QueryDepthLimiter,
    ValidationCache,
)
from strawberry.extensions.disable_introspection import DisableIntrospection
from strawberry.schema.config import StrawberryConfig
from strawberry.types import Info

from application.use_cases.generate_offers import GenerateOffersCommand
from graphql_api.context import GraphQLContext
from graphql_api.errors import MaskUnexpectedErrors, call, typed_error
from graphql_api.types import LoanOffer, LoanOfferRequest, LoanOfferResponse


@dataclass(frozen=True)
class SchemaOptions:
    introspection: bool = True
    max_depth: int = 12
    max_aliases: int = 30
    max_tokens: int = 2000


def _amount(value: float | None) -> Decimal | None:
    if value is None:
        return None
    return Decimal(repr(value))


@strawberry.type
class Query:
    @strawberry.field(description="Ranked, explained loan offers for a customer.")
    async def loan_offers(self, info: Info[GraphQLContext, None],
                          request: LoanOfferRequest) -> LoanOfferResponse:
        amount = _amount(request.requested_amount)
        if amount is not None and amount != amount.quantize(Decimal("0.01")):
            raise typed_error("BAD_USER_INPUT", "requestedAmount has more than 2 decimals",
                              field="requestedAmount")
        command = GenerateOffersCommand(str(request.user_id), amount, request.requested_tenure)
        offer_set = await call(info.context.services.generate_offers.execute(command))
        return LoanOfferResponse.of(offer_set)

    @strawberry.field(description="One offer by id, with its current status.")
    async def offer(self, info: Info[GraphQLContext, None], offer_id: strawberry.ID) -> LoanOffer:
        return LoanOffer.of(await call(info.context.services.get_offer.execute(str(offer_id))))


def build_schema(options: SchemaOptions) -> strawberry.Schema:
    extensions = [
        MaskUnexpectedErrors,
        lambda: QueryDepthLimiter(max_depth=options.max_depth),
        lambda: MaxAliasesLimiter(max_alias_count=options.max_aliases),
        lambda: MaxTokensLimiter(max_token_count=options.max_tokens),
        # Bounded: an attacker sending endless distinct documents must not grow memory.
        lambda: ParserCache(maxsize=1024),
        lambda: ValidationCache(maxsize=1024),
    ]
    if not options.introspection:
        extensions.append(DisableIntrospection)
    return strawberry.Schema(
        query=Query,
        extensions=extensions,
        config=StrawberryConfig(disable_field_suggestions=not options.introspection),
    )
