"""What this system's own offer history says about a customer (the seed's "historical data").

Counted per answer (offer set), not per offer: an answer carries up to five alternatives and a
customer takes at most one, so per-offer counts would call every accepted answer "mostly
declined". An answer is

* accepted when one of its offers was accepted;
* declined when the customer declined one of its offers and accepted none;
* lapsed when it was left unanswered until every offer expired (withdrawn offers, e.g. re-priced
  after a policy change, are the lender's doing and do not count).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True, slots=True)
class OfferHistorySummary:
    """Aggregates over a customer's recent offer history (the repository's window, a year)."""

    offers_seen: int = 0        # offers shown (every generated offer)
    answers: int = 0            # offer sets that carried at least one offer
    accepted: int = 0
    declined: int = 0
    lapsed: int = 0
    last_accepted_at: datetime | None = None

    def __post_init__(self) -> None:
        counts = (self.offers_seen, self.answers, self.accepted, self.declined, self.lapsed)
        if min(counts) < 0:
            raise ValueError(f"history counts must not be negative: {counts}")
        if self.accepted + self.declined + self.lapsed > self.answers:
            raise ValueError("accepted + declined + lapsed answers exceed the answers given")

    def days_since_last_acceptance(self, now: datetime) -> int | None:
        if self.last_accepted_at is None:
            return None
        return max(0, (now - self.last_accepted_at).days)


NO_HISTORY = OfferHistorySummary()
