"""GetOffer: one stored offer, with its status brought up to date (expiry)."""

from __future__ import annotations

from application.errors import NotFound
from application.ports import Clock, UnitOfWorkFactory
from domain.offers import LoanOffer, OfferStatus


class GetOffer:
    def __init__(self, uow_factory: UnitOfWorkFactory, clock: Clock) -> None:
        self._uow_factory = uow_factory
        self._clock = clock

    async def execute(self, offer_id: str) -> LoanOffer:
        async with self._uow_factory() as uow:
            offer = await uow.offers.get(offer_id)
        if offer is None:
            raise NotFound(f"no offer with id {offer_id!r}", offer_id=offer_id)
        if offer.status is OfferStatus.ACTIVE and offer.is_expired_at(self._clock.now()):
            # Reported as expired at once; the expiry sweeper persists it and notifies.
            return offer.with_status(OfferStatus.EXPIRED)
        return offer
