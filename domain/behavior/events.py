"""Behaviour events that lender systems report, and how they move the behaviour metrics.

An applicant's :class:`~domain.behavior.metrics.BehaviorMetrics` start from the snapshot the
lender imported (``applicant_behavior``); events recorded through the API since then are added
on top, each counted only inside its metric's window (views and rate comparisons: 90 days;
app sessions: 30 days). Repaid loans and opened products have no window.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum

from domain.behavior.metrics import BehaviorMetrics


class BehaviorEventType(StrEnum):
    OFFER_VIEWED = "OFFER_VIEWED"
    RATE_COMPARED = "RATE_COMPARED"
    APP_SESSION = "APP_SESSION"
    LOAN_REPAID = "LOAN_REPAID"
    PRODUCT_OPENED = "PRODUCT_OPENED"


#: How far back an event of each type still counts (``None``: for ever).
EVENT_WINDOWS: dict[BehaviorEventType, timedelta | None] = {
    BehaviorEventType.OFFER_VIEWED: timedelta(days=90),
    BehaviorEventType.RATE_COMPARED: timedelta(days=90),
    BehaviorEventType.APP_SESSION: timedelta(days=30),
    BehaviorEventType.LOAN_REPAID: None,
    BehaviorEventType.PRODUCT_OPENED: None,
}


@dataclass(frozen=True, slots=True)
class BehaviorEvent:
    event_id: str
    user_id: str
    type: BehaviorEventType
    occurred_at: datetime
    offer_id: str | None = None


@dataclass(frozen=True, slots=True)
class BehaviorEventCounts:
    """Events of one applicant inside their windows, and the most recent event of any type."""

    offers_viewed: int = 0
    rates_compared: int = 0
    app_sessions: int = 0
    loans_repaid: int = 0
    products_opened: int = 0
    last_event_at: datetime | None = None

    @classmethod
    def of(cls, counts: dict[BehaviorEventType, int], last_event_at: datetime | None
           ) -> BehaviorEventCounts:
        return cls(
            offers_viewed=counts.get(BehaviorEventType.OFFER_VIEWED, 0),
            rates_compared=counts.get(BehaviorEventType.RATE_COMPARED, 0),
            app_sessions=counts.get(BehaviorEventType.APP_SESSION, 0),
            loans_repaid=counts.get(BehaviorEventType.LOAN_REPAID, 0),
            products_opened=counts.get(BehaviorEventType.PRODUCT_OPENED, 0),
            last_event_at=last_event_at,
        )


def window_start(event_type: BehaviorEventType, now: datetime) -> datetime | None:
    window = EVENT_WINDOWS[event_type]
    return None if window is None else now - window


def apply_event_counts(metrics: BehaviorMetrics, counts: BehaviorEventCounts, now: datetime
                       ) -> BehaviorMetrics:
    """The snapshot plus the recorded events; recency is the newer of the two."""
    days_since = metrics.days_since_last_active
    if counts.last_event_at is not None:
        event_days = max(0, (now - counts.last_event_at).days)
        days_since = event_days if days_since is None else min(days_since, event_days)
    return replace(
        metrics,
        offers_viewed_90d=metrics.offers_viewed_90d + counts.offers_viewed,
        rate_comparisons_90d=metrics.rate_comparisons_90d + counts.rates_compared,
        app_sessions_30d=metrics.app_sessions_30d + counts.app_sessions,
        loans_repaid=metrics.loans_repaid + counts.loans_repaid,
        products_held=metrics.products_held + counts.products_opened,
        days_since_last_active=days_since,
    )
