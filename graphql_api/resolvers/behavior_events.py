"""Mutation recordBehaviorEvent: lender systems report what a customer did."""

from __future__ import annotations

from datetime import datetime
from enum import Enum

import strawberry
from strawberry.types import Info

from application.use_cases.record_behavior_event import (
    RecordBehaviorEventCommand,
    RecordedBehaviorEvent,
)
from domain.behavior.events import BehaviorEventType as DomainEventType
from graphql_api.context import GraphQLContext
from graphql_api.errors import call


@strawberry.enum(description="OFFER_VIEWED and RATE_COMPARED count for 90 days, APP_SESSION for "
                             "30 days; LOAN_REPAID and PRODUCT_OPENED without a window.")
class BehaviorEventType(Enum):
    OFFER_VIEWED = "OFFER_VIEWED"
    RATE_COMPARED = "RATE_COMPARED"
    APP_SESSION = "APP_SESSION"
    LOAN_REPAID = "LOAN_REPAID"
    PRODUCT_OPENED = "PRODUCT_OPENED"


@strawberry.input
class BehaviorEventInput:
    user_id: strawberry.ID
    type: BehaviorEventType
    occurred_at: datetime | None = strawberry.field(
        default=None, description="With a time zone; default now; at most 5 minutes ahead")
    offer_id: strawberry.ID | None = strawberry.field(
        default=None, description="The offer viewed or compared (must be this user's)")
    event_id: strawberry.ID | None = strawberry.field(
        default=None, description="The reporter's id for the event (up to 64 characters): "
                                  "reporting it again stores it once")


@strawberry.type
class RecordBehaviorEventPayload:
    event_id: strawberry.ID
    user_id: strawberry.ID
    type: BehaviorEventType
    occurred_at: datetime
    offer_id: strawberry.ID | None
    duplicate: bool = strawberry.field(
        description="True when an event with this eventId had already been recorded")

    @classmethod
    def of(cls, recorded: RecordedBehaviorEvent) -> RecordBehaviorEventPayload:
        e = recorded.event
        return cls(event_id=strawberry.ID(e.event_id), user_id=strawberry.ID(e.user_id),
                   type=BehaviorEventType(e.type.value), occurred_at=e.occurred_at,
                   offer_id=None if e.offer_id is None else strawberry.ID(e.offer_id),
                   duplicate=recorded.duplicate)


@strawberry.type
class BehaviorEventMutations:
    @strawberry.mutation(description="Record a behaviour event; it feeds the behaviour analysis "
                                     "(price sensitivity, conversion, long-term value) of the "
                                     "customer's next loanOffers.")
    async def record_behavior_event(self, info: Info[GraphQLContext, None],
                                    event: BehaviorEventInput) -> RecordBehaviorEventPayload:
        command = RecordBehaviorEventCommand(
            user_id=str(event.user_id), type=DomainEventType(event.type.value),
            occurred_at=event.occurred_at,
            offer_id=None if event.offer_id is None else str(event.offer_id),
            event_id=None if event.event_id is None else str(event.event_id))
        recorded = await call(info.context.services.record_behavior_event.execute(command))
        return RecordBehaviorEventPayload.of(recorded)
