"""Offer events pushed to subscribers (``Subscription.offerUpdates``)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from domain.offers import LoanOffer


class OfferEventType(StrEnum):
    GENERATED = "GENERATED"
    ACCEPTED = "ACCEPTED"
    DECLINED = "DECLINED"
    EXPIRED = "EXPIRED"
    WITHDRAWN = "WITHDRAWN"
    REPRICED = "REPRICED"


@dataclass(frozen=True, slots=True)
class OfferEvent:
    type: OfferEventType
    user_id: str
    offer: LoanOffer
    occurred_at: datetime
    # REPRICED: the offer this one replaces (now REPRICED, its ``replaced_by`` is ``offer``).
    previous_offer_id: str | None = None
