"""Subscription offerUpdates: a user's offer events, from every server replica."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from datetime import datetime
from enum import Enum

import strawberry
from strawberry.types import Info

from application.events import OfferEvent
from graphql_api.context import GraphQLContext
from graphql_api.types import LoanOffer


@strawberry.enum
class OfferEventType(Enum):
    GENERATED = "GENERATED"
    ACCEPTED = "ACCEPTED"
    DECLINED = "DECLINED"
    EXPIRED = "EXPIRED"
    WITHDRAWN = "WITHDRAWN"
    REPRICED = "REPRICED"


@strawberry.type(description="One change to one of the user's offers.")
class OfferUpdate:
    type: OfferEventType
    user_id: strawberry.ID
    offer: LoanOffer = strawberry.field(
        description="The offer after the change (REPRICED: the new, re-priced offer)")
    occurred_at: datetime
    previous_offer_id: strawberry.ID | None = strawberry.field(
        description="REPRICED: the offer this one replaces")

    @classmethod
    def of(cls, event: OfferEvent) -> OfferUpdate:
        previous = event.previous_offer_id
        return cls(type=OfferEventType(event.type.value), user_id=strawberry.ID(event.user_id),
                   offer=LoanOffer.of(event.offer), occurred_at=event.occurred_at,
                   previous_offer_id=None if previous is None else strawberry.ID(previous))


@strawberry.type
class OfferSubscriptions:
    @strawberry.subscription(description="Pushes every change to the user's offers (generated, "
                                          "accepted, declined, expired, withdrawn, re-priced) "
                                          "made on any replica, from the moment of subscribing.")
    async def offer_updates(self, info: Info[GraphQLContext, None], user_id: strawberry.ID
                            ) -> AsyncGenerator[OfferUpdate, None]:
        async for event in info.context.services.subscriber.subscribe(str(user_id)):
            yield OfferUpdate.of(event)
