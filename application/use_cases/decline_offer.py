"""DeclineOffer: the customer turns one offer down; the others stay open."""

from __future__ import annotations

from application.events import OfferEventType
from application.use_cases.decide_offer import DecideOffer
from domain.offers import OfferStatus


class DeclineOffer(DecideOffer):
    operation = "declineOffer"
    target = OfferStatus.DECLINED
    event_type = OfferEventType.DECLINED
