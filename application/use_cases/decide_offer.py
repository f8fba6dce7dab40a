"""The customer's answer to an offer (accept or decline): one transaction, idempotent by key.

Shared by :class:`~application.use_cases.accept_offer.AcceptOffer` and
:class:`~application.use_cases.decline_offer.DeclineOffer`. The flow, in one unit of work:

1. with an idempotency key already stored for this operation, answer what was answered then
   (same offer required, else ``CONFLICT``/``IDEMPOTENCY_KEY_REUSED``);
2. the offer must exist (``NOT_FOUND``), belong to the acting user when one is named
   (``FORBIDDEN``), be ACTIVE and not past ``validUntil`` (``CONFLICT`` with a ``reason``);
3. a conditional status change (only from ACTIVE), the decision's side effects, the answer
   stored under the key, commit;
4. after the commit: the customer's cached applicant and offer-history entries are dropped (the
   history aggregates count answers), then events are published (subscribers never hear of a
   change that rolled back).

Two requests racing with the same key: both may pass step 1; the database lets one change the
offer and the other finds it no longer ACTIVE (or the key taken at commit). The loser then reads
the key again in a fresh transaction and replays the winner's answer.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from application.errors import Conflict, Forbidden, InvalidInput, NotFound
from application.events import OfferEvent, OfferEventType
from application.offer_outcome import OfferOutcome
from application.ports import (
    ApplicantCache,
    Clock,
    EventPublisher,
    OfferMetrics,
    UnitOfWork,
    UnitOfWorkFactory,
)
from domain.offers import LoanOffer, OfferStatus

#: Printable, no spaces: a UUID, a ULID or any client token up to 128 characters.
_KEY = re.compile(r"^[\x21-\x7e]{1,128}$")

#: Why an offer can no longer be answered, by its status (``extensions.reason``).
CONFLICT_REASONS = {
    OfferStatus.ACCEPTED: "OFFER_ALREADY_ACCEPTED",
    OfferStatus.DECLINED: "OFFER_DECLINED",
    OfferStatus.EXPIRED: "OFFER_EXPIRED",
    OfferStatus.WITHDRAWN: "OFFER_WITHDRAWN",
    OfferStatus.REPRICED: "OFFER_REPRICED",
}


@dataclass(frozen=True, slots=True)
class OfferAnswerCommand:
    offer_id: str
    idempotency_key: str | None = None
    # The authenticated customer, when the caller acts as one (``None``: a trusted caller, e.g.
    # an agent acting for the customer, whose authorisation the API layer checked).
    acting_user_id: str | None = None


class DecideOffer:
    """Template for one answer; subclasses name the operation, target status and side effects."""

    operation: str
    target: OfferStatus
    event_type: OfferEventType

    def __init__(self, uow_factory: UnitOfWorkFactory, events: EventPublisher, clock: Clock,
                 cache: ApplicantCache | None = None, metrics: OfferMetrics | None = None
                 ) -> None:
        self._uow_factory = uow_factory
        self._events = events
        self._clock = clock
        self._cache = cache
        self._metrics = metrics

    def record_metrics(self, metrics: OfferMetrics, outcome: OfferOutcome) -> None:
        """Business metrics of a durable decision (not of replays)."""

    async def side_effects(self, uow: UnitOfWork, offer: LoanOffer) -> tuple[LoanOffer, ...]:
        """Further changes in the same transaction; returns the offers withdrawn by them."""
        return ()

    async def execute(self, command: OfferAnswerCommand) -> OfferOutcome:
        key = command.idempotency_key
        if key is not None and not _KEY.match(key):
            raise InvalidInput("idempotencyKey must be 1 to 128 printable characters without "
                               "spaces", field="idempotencyKey")
        try:
            outcome = await self._decide(command)
        except Conflict:
            if key is None:
                raise
            async with self._uow_factory() as uow:
                replay = await self._replay(uow, command)
            if replay is None:
                raise
            return replay
        if not outcome.replayed:
            if self._cache is not None:
                await self._cache.invalidate(outcome.offer.user_id)
            if self._metrics is not None:
                self.record_metrics(self._metrics, outcome)
            await self._publish(outcome)
        return outcome

    async def _decide(self, command: OfferAnswerCommand) -> OfferOutcome:
        async with self._uow_factory() as uow:
            replay = await self._replay(uow, command)
            if replay is not None:
                return replay
            offer = await uow.offers.get(command.offer_id)
            self._check(command, offer, self._clock.now())
            assert offer is not None
            await uow.offers.lock_active(offer.user_id)
            changed = await uow.offers.transition(offer.offer_id, self.target)
            if changed is None:  # changed since we read it: report what it is now
                self._check(command, await uow.offers.get(offer.offer_id), self._clock.now())
                raise Conflict("the offer was changed by a concurrent request",
                               offer_id=offer.offer_id, reason="OFFER_NOT_ACTIVE")
            withdrawn = await self.side_effects(uow, changed)
            outcome = OfferOutcome(changed, withdrawn, self._clock.now())
            if command.idempotency_key is not None:
                await uow.idempotency.add(self.operation, command.idempotency_key,
                                          changed.offer_id, outcome)
            await uow.commit()
        return outcome

    async def _replay(self, uow: UnitOfWork, command: OfferAnswerCommand) -> OfferOutcome | None:
        if command.idempotency_key is None:
            return None
        stored = await uow.idempotency.get(self.operation, command.idempotency_key)
        if stored is None:
            return None
        if stored.subject_id != command.offer_id:
            raise Conflict("this idempotencyKey was already used for another offer",
                           reason="IDEMPOTENCY_KEY_REUSED", offer_id=stored.subject_id)
        self._check_owner(command, stored.outcome.offer)
        return stored.outcome.as_replay()

    def _check(self, command: OfferAnswerCommand, offer: LoanOffer | None, now: datetime
               ) -> None:
        if offer is None:
            raise NotFound(f"no offer with id {command.offer_id!r}", offer_id=command.offer_id)
        self._check_owner(command, offer)
        if offer.status is not OfferStatus.ACTIVE:
            details: dict[str, object] = {"offer_id": offer.offer_id, "status": offer.status.value,
                                          "reason": CONFLICT_REASONS[offer.status]}
            if offer.replaced_by is not None:
                details["replaced_by"] = offer.replaced_by
            raise Conflict(f"offer {offer.offer_id} is {offer.status.value.lower()}", **details)
        if offer.is_expired_at(now):
            raise Conflict(f"offer {offer.offer_id} expired at {offer.valid_until.isoformat()}",
                           offer_id=offer.offer_id, status=OfferStatus.EXPIRED.value,
                           reason="OFFER_EXPIRED")

    @staticmethod
    def _check_owner(command: OfferAnswerCommand, offer: LoanOffer) -> None:
        if command.acting_user_id is not None and command.acting_user_id != offer.user_id:
            raise Forbidden("this offer belongs to another customer", offer_id=offer.offer_id)

    async def _publish(self, outcome: OfferOutcome) -> None:
        at = outcome.decided_at
        await self._events.publish(
            OfferEvent(self.event_type, outcome.offer.user_id, outcome.offer, at))
        for other in outcome.withdrawn:
            await self._events.publish(
                OfferEvent(OfferEventType.WITHDRAWN, other.user_id, other, at))
