"""Behaviour analysis: price sensitivity, conversion propensity, long-term value.

Price sensitivity (policy ``[sensitivity]``): a weighted score of 0..1 features, clipped to
[0, 1]; LOW below ``medium_from``, HIGH from ``high_from``, MEDIUM between. Features from the
lender's behaviour counters (rate comparisons, decline ratio, browsing, loyalty, engagement) and
from this system's own offer history (answers declined, answers left to lapse, how recently an
offer was accepted), so a customer's history with us really moves the price.

Price response: rho(r) = 1/(1+exp(a + b r)) with ``b`` the slope for the sensitivity and
``a = -b * (band midpoint + sensitivity shift)`` (Phillips 2018).

Long-term value (INR): the discounted margin of future loans and cross-sell::

    p   = min(max_repeat, base + per_loan * loans_repaid + per_product * products_held
                          + per_engagement * engagement) * (1 - PD)
    LTV = sum_{k=1..horizon} p^k * future_margin / (1 + discount_rate)^k
"""

from __future__ import annotations

import operator
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from domain.behavior.history import NO_HISTORY, OfferHistorySummary
from domain.behavior.metrics import BehaviorMetrics
from domain.behavior.sensitivity_level import PriceSensitivity
from domain.optimization.price_response import PriceResponseCurve
from domain.policy.model import PricingPolicy, RiskBand
from domain.slotted import fast_init


@fast_init
@dataclass(frozen=True, slots=True)
class BehaviorAnalysis:
    price_sensitivity: PriceSensitivity
    sensitivity_score: float
    conversion_probability: float
    long_term_value: Decimal
    repeat_probability: float
    price_response: PriceResponseCurve


SENSITIVITY_FEATURES = ("rate_comparisons", "decline_ratio", "browsing", "loyalty",
                        "engagement")
HISTORY_FEATURES = ("declined_offers", "lapsed_offers", "recent_acceptance")


def sensitivity_features(m: BehaviorMetrics) -> dict[str, float]:
    return dict(zip(SENSITIVITY_FEATURES, _sensitivity_values(m), strict=True))


def _sensitivity_values(m: BehaviorMetrics) -> tuple[float, ...]:
    decisions = m.offers_declined + m.offers_accepted
    return (min(m.rate_comparisons_90d / 10.0, 1.0),
            m.offers_declined / decisions if decisions else 0.0,
            min(m.offers_viewed_90d / 20.0, 1.0),
            min(m.loans_repaid / 3.0, 1.0),
            min(m.app_sessions_30d / 20.0, 1.0))


#: Days over which a past acceptance fades from full weight to none.
ACCEPTANCE_MEMORY_DAYS = 365.0


def history_features(h: OfferHistorySummary, now: datetime | None) -> dict[str, float]:
    """0..1 features of the offer history: three declined answers (or five lapsed ones) count
    fully; an acceptance today counts fully and fades linearly over a year."""
    return dict(zip(HISTORY_FEATURES, _history_values(h, now), strict=True))


def _history_values(h: OfferHistorySummary, now: datetime | None) -> tuple[float, ...]:
    days = h.days_since_last_acceptance(now) if now is not None else None
    if days is None and h.last_accepted_at is not None:
        raise ValueError("history with an acceptance needs `now` to weigh its recency")
    return (min(h.declined / 3.0, 1.0),
            min(h.lapsed / 5.0, 1.0),
            0.0 if days is None else max(0.0, 1.0 - days / ACCEPTANCE_MEMORY_DAYS))


def sensitivity_score(policy: PricingPolicy, m: BehaviorMetrics,
                      history: OfferHistorySummary = NO_HISTORY,
                      now: datetime | None = None) -> float:
    # History weights are optional in a policy (older policies have none): absent means 0.
    # The weights in feature order, once per policy; summed as weight x value in that order,
    # as over the features' dict (without building and merging two dicts per applicant).
    weights = policy.derived("sensitivity_weights", lambda: tuple(
        policy.sensitivity.weights.get(name, 0.0)
        for name in (*SENSITIVITY_FEATURES, *HISTORY_FEATURES)))
    values = (*_sensitivity_values(m), *_history_values(history, now))
    raw = policy.sensitivity.base + sum(map(operator.mul, weights, values))
    return min(1.0, max(0.0, raw))


def sensitivity_level(policy: PricingPolicy, score: float) -> PriceSensitivity:
    if score >= policy.sensitivity.high_from:
        return PriceSensitivity.HIGH
    if score >= policy.sensitivity.medium_from:
        return PriceSensitivity.MEDIUM
    return PriceSensitivity.LOW


def base_price_response(policy: PricingPolicy, sensitivity: PriceSensitivity,
                        band: RiskBand) -> PriceResponseCurve:
    pr = policy.price_response
    slope = pr.slope[sensitivity]
    return PriceResponseCurve(intercept=-slope * (band.price_midpoint + pr.midpoint_shift[sensitivity]),
                              slope=slope)


def repeat_probability(policy: PricingPolicy, m: BehaviorMetrics, pd: float) -> float:
    lv = policy.lifetime_value
    engagement = min(m.app_sessions_30d / 20.0, 1.0)
    p = (lv.base_repeat_probability + lv.per_loan_repaid * m.loans_repaid
         + lv.per_product_held * m.products_held + lv.per_engagement * engagement)
    return min(lv.max_repeat_probability, p) * (1.0 - pd)


def long_term_value(policy: PricingPolicy, p: float) -> Decimal:
    lv = policy.lifetime_value
    d = policy.economics.discount_rate
    total = sum(p**k / (1.0 + d) ** k for k in range(1, lv.horizon_years + 1))
    return (lv.future_margin * Decimal(repr(total))).quantize(Decimal("0.01"))


def analyse_behavior(policy: PricingPolicy, m: BehaviorMetrics, band: RiskBand, pd: float,
                     reference_rate: float, history: OfferHistorySummary = NO_HISTORY,
                     now: datetime | None = None) -> BehaviorAnalysis:
    """``band`` prices the response curve (the lowest band for out-of-policy applicants);
    conversion is the take-up at ``reference_rate`` (the risk assessment's base ROI);
    ``history`` is the customer's offer history with us, weighed at ``now``."""
    score = sensitivity_score(policy, m, history, now)
    level = sensitivity_level(policy, score)
    curve = base_price_response(policy, level, band)
    p = repeat_probability(policy, m, pd)
    return BehaviorAnalysis(
        price_sensitivity=level,
        sensitivity_score=score,
        conversion_probability=curve.take_up(reference_rate),
        long_term_value=long_term_value(policy, p),
        repeat_probability=p,
        price_response=curve,
    )
