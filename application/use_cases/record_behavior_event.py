"""RecordBehaviorEvent: lender systems report what a customer did (viewed an offer, compared
rates, opened the app, ...). The event is stored and, through the behaviour metrics, moves the
behaviour analysis of the customer's next ``loanOffers``."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from application.errors import InvalidInput, NotFound
from application.ports import ApplicantCache, Clock, IdGenerator, UnitOfWorkFactory
from domain.behavior.events import BehaviorEvent, BehaviorEventType

#: Clocks of reporting systems drift; an event further in the future than this is refused.
MAX_CLOCK_SKEW = timedelta(minutes=5)
_MAX_EVENT_ID = 64


@dataclass(frozen=True, slots=True)
class RecordBehaviorEventCommand:
    user_id: str
    type: BehaviorEventType
    occurred_at: datetime | None = None     # default: now
    offer_id: str | None = None             # the offer viewed / compared, when there is one
    event_id: str | None = None             # the reporter's id: a repeat is stored once


@dataclass(frozen=True, slots=True)
class RecordedBehaviorEvent:
    event: BehaviorEvent
    duplicate: bool                         # an event with this id had been recorded before


class RecordBehaviorEvent:
    def __init__(self, uow_factory: UnitOfWorkFactory, cache: ApplicantCache, clock: Clock,
                 ids: IdGenerator) -> None:
        self._uow_factory = uow_factory
        self._cache = cache
        self._clock = clock
        self._ids = ids

    async def execute(self, command: RecordBehaviorEventCommand) -> RecordedBehaviorEvent:
        now = self._clock.now()
        event = BehaviorEvent(
            event_id=self._event_id(command),
            user_id=command.user_id,
            type=command.type,
            occurred_at=self._occurred_at(command, now),
            offer_id=command.offer_id,
        )
        async with self._uow_factory() as uow:
            if await uow.applicants.get(command.user_id) is None:
                raise NotFound(f"no applicant with id {command.user_id!r}",
                               user_id=command.user_id)
            if command.offer_id is not None:
                offer = await uow.offers.get(command.offer_id)
                if offer is None or offer.user_id != command.user_id:
                    raise InvalidInput("offerId is not an offer made to this user",
                                       field="offerId", offer_id=command.offer_id)
            inserted = await uow.behavior_events.add(event)
            await uow.commit()
        # After the commit: a reader refilling the cache now reads the new metrics.
        await self._cache.invalidate(command.user_id)
        return RecordedBehaviorEvent(event, duplicate=not inserted)

    def _event_id(self, command: RecordBehaviorEventCommand) -> str:
        if command.event_id is None:
            return self._ids.new_id()
        if not 1 <= len(command.event_id) <= _MAX_EVENT_ID or not command.event_id.isprintable():
            raise InvalidInput(f"eventId must be 1 to {_MAX_EVENT_ID} printable characters",
                               field="eventId")
        return command.event_id

    @staticmethod
    def _occurred_at(command: RecordBehaviorEventCommand, now: datetime) -> datetime:
        at = command.occurred_at or now
        if at.tzinfo is None or at.utcoffset() is None:
            raise InvalidInput("occurredAt needs a time zone", field="occurredAt")
        if at > now + MAX_CLOCK_SKEW:
            raise InvalidInput("occurredAt is in the future", field="occurredAt")
        return at
