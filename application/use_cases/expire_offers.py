"""ExpireOffers: mark ACTIVE offers past ``validUntil`` EXPIRED and tell their subscribers.

Run periodically by every replica (``config.expiry_sweeper``). The repository's conditional
update hands each offer to one caller only, so each EXPIRED event is sent once.
"""

from __future__ import annotations

from application.events import OfferEvent, OfferEventType
from application.ports import Clock, EventPublisher, UnitOfWorkFactory


class ExpireOffers:
    def __init__(self, uow_factory: UnitOfWorkFactory, events: EventPublisher, clock: Clock,
                 batch_size: int = 500) -> None:
        self._uow_factory = uow_factory
        self._events = events
        self._clock = clock
        self._batch = batch_size

    async def execute(self) -> int:
        """Expire everything due now, in batches (one transaction each); returns how many."""
        total = 0
        while True:
            now = self._clock.now()
            async with self._uow_factory() as uow:
                expired = await uow.offers.expire_due(now, self._batch)
                await uow.commit()
            for offer in expired:
                await self._events.publish(
                    OfferEvent(OfferEventType.EXPIRED, offer.user_id, offer, now))
            total += len(expired)
            if len(expired) < self._batch:
                return total
