"""Behaviour facts reported by lender systems and derived from offer history."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class BehaviorMetrics:
    """Counts over the recent past (windows stated per field); all default to a new customer.

    ``offers_*`` come from this system's own offer history; the rest from lender events.
    """

    offers_viewed_90d: int = 0
    rate_comparisons_90d: int = 0
    offers_declined: int = 0
    offers_accepted: int = 0
    app_sessions_30d: int = 0
    days_since_last_active: int | None = None
    loans_repaid: int = 0
    products_held: int = 0
