"""AcceptOffer: the customer takes one offer; their other active offers are withdrawn."""

from __future__ import annotations

from application.events import OfferEventType
from application.offer_outcome import OfferOutcome
from application.ports import OfferMetrics, UnitOfWork
from application.use_cases.decide_offer import DecideOffer
from domain.offers import LoanOffer, OfferStatus


class AcceptOffer(DecideOffer):
    operation = "acceptOffer"
    target = OfferStatus.ACCEPTED
    event_type = OfferEventType.ACCEPTED

    async def side_effects(self, uow: UnitOfWork, offer: LoanOffer) -> tuple[LoanOffer, ...]:
        # One loan per customer at a time: every other open offer (of any answer) goes.
        return await uow.offers.withdraw_active(offer.user_id, except_offer_id=offer.offer_id)

    def record_metrics(self, metrics: OfferMetrics, outcome: OfferOutcome) -> None:
        metrics.offer_accepted(outcome.offer)
