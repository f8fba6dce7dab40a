"""What an offer decision (accept, decline) answered: stored with its idempotency key and
replayed as it was when the same key comes again."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from domain.offers import LoanOffer


@dataclass(frozen=True, slots=True)
class OfferOutcome:
    offer: LoanOffer                        # the offer as it was right after the decision
    withdrawn: tuple[LoanOffer, ...]        # the user's other offers this decision withdrew
    decided_at: datetime
    replayed: bool = False                  # True when answered from the idempotency store

    def as_replay(self) -> OfferOutcome:
        return replace(self, replayed=True)


@dataclass(frozen=True, slots=True)
class StoredOutcome:
    """An idempotency record: which offer the key was used for, and the answer given."""

    subject_id: str
    outcome: OfferOutcome
