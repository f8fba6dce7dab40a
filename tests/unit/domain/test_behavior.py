"""Behaviour analysis: price sensitivity levels, the price-response slope, long-term value."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.behavior.analysis import (
    analyse_behavior,
    base_price_response,
    long_term_value,
    repeat_probability,
    sensitivity_features,
    sensitivity_level,
    sensitivity_score,
)
from domain.behavior.metrics import BehaviorMetrics
from domain.behavior.sensitivity_level import PriceSensitivity
from tests.strategies import behavior_metrics

LOW, MEDIUM, HIGH = PriceSensitivity.LOW, PriceSensitivity.MEDIUM, PriceSensitivity.HIGH


def test_default_thresholds(policy):
    assert policy.sensitivity.base == 0.25
    assert (policy.sensitivity.medium_from, policy.sensitivity.high_from) == (0.30, 0.60)


@pytest.mark.parametrize(("metrics", "score", "level"), [
    # a new customer: the base score only
    (BehaviorMetrics(), 0.25, LOW),
    # 2 rate comparisons: 0.25 + 0.45 * 0.2
    (BehaviorMetrics(rate_comparisons_90d=2), 0.34, MEDIUM),
    # a loyal, engaged customer: 0.25 - 0.25 - 0.05, clipped at 0
    (BehaviorMetrics(loans_repaid=3, app_sessions_30d=20), 0.0, LOW),
    # a price shopper: 0.25 + 0.45 + 0.30 * 3/4 + 0.15 * 0.5, clipped at 1
    (BehaviorMetrics(rate_comparisons_90d=12, offers_declined=3, offers_accepted=1,
                     offers_viewed_90d=10), 1.0, HIGH),
    # 7 comparisons: 0.25 + 0.45 * 0.7 = 0.565, just below HIGH
    (BehaviorMetrics(rate_comparisons_90d=7), 0.565, MEDIUM),
    # 8 comparisons: 0.25 + 0.36 = 0.61
    (BehaviorMetrics(rate_comparisons_90d=8), 0.61, HIGH),
])
def test_crafted_metrics_give_the_documented_levels(policy, metrics, score, level):
    assert sensitivity_score(policy, metrics) == pytest.approx(score, abs=1e-12)
    assert sensitivity_level(policy, sensitivity_score(policy, metrics)) is level


def test_levels_switch_exactly_at_the_thresholds(policy):
    assert sensitivity_level(policy, 0.2999999) is LOW
    assert sensitivity_level(policy, 0.30) is MEDIUM
    assert sensitivity_level(policy, 0.5999999) is MEDIUM
    assert sensitivity_level(policy, 0.60) is HIGH


def test_features_are_capped_fractions():
    features = sensitivity_features(BehaviorMetrics(
        offers_viewed_90d=100, rate_comparisons_90d=100, offers_declined=1, offers_accepted=3,
        app_sessions_30d=100, loans_repaid=10))
    assert features == {"rate_comparisons": 1.0, "decline_ratio": 0.25, "browsing": 1.0,
                        "loyalty": 1.0, "engagement": 1.0}
    assert sensitivity_features(BehaviorMetrics())["decline_ratio"] == 0.0


@settings(max_examples=300, deadline=None)
@given(behavior_metrics(), st.integers(1, 20))
def test_more_rate_comparisons_never_lower_the_sensitivity_score(policy, metrics, more):
    more_shopping = replace(metrics, rate_comparisons_90d=metrics.rate_comparisons_90d + more)
    before, after = sensitivity_score(policy, metrics), sensitivity_score(policy, more_shopping)
    assert after >= before
    assert 0.0 <= before <= 1.0
    order = [LOW, MEDIUM, HIGH]
    assert order.index(sensitivity_level(policy, after)) >= order.index(
        sensitivity_level(policy, before))


def test_high_sensitivity_gets_a_steeper_slope(policy):
    band = policy.bands[0]
    slopes = {level: base_price_response(policy, level, band).slope for level in PriceSensitivity}
    assert slopes[HIGH] > slopes[MEDIUM] > slopes[LOW] > 0
    assert slopes == {LOW: 25.0, MEDIUM: 40.0, HIGH: 60.0}


def test_curve_midpoint_is_the_band_midpoint_plus_the_shift(policy):
    band = policy.bands[1]  # B, midpoint 15 %
    for level, shift in ((LOW, 0.015), (MEDIUM, 0.0), (HIGH, -0.010)):
        curve = base_price_response(policy, level, band)
        assert curve.take_up(band.price_midpoint + shift) == pytest.approx(0.5)


def test_a_price_shopper_is_priced_on_the_high_curve(policy):
    shopper = BehaviorMetrics(rate_comparisons_90d=10, offers_viewed_90d=20)
    analysis = analyse_behavior(policy, shopper, policy.bands[0], 0.02, 0.14)
    assert analysis.price_sensitivity is HIGH
    assert analysis.price_response.slope == 60.0
    assert analysis.conversion_probability == pytest.approx(
        analysis.price_response.take_up(0.14))
    loyal = analyse_behavior(policy, BehaviorMetrics(loans_repaid=3), policy.bands[0], 0.02, 0.14)
    assert loyal.price_sensitivity is LOW
    # at the same rate above the midpoint, the shopper converts less than the loyal customer
    assert analysis.conversion_probability < loyal.conversion_probability


def test_long_term_value_hand_computed(policy):
    metrics = BehaviorMetrics(loans_repaid=2, products_held=1, app_sessions_30d=10)
    # p = min(0.70, 0.15 + 0.10*2 + 0.04*1 + 0.05*0.5) * (1 - 0.02) = 0.4067
    p = repeat_probability(policy, metrics, 0.02)
    assert p == pytest.approx(0.4067, abs=1e-12)
    # LTV = 12000 * sum_{k=1..3} (0.4067 / 1.12)^k = 6514.396...
    assert long_term_value(policy, p) == Decimal("6514.40")


def test_repeat_probability_is_capped(policy):
    metrics = BehaviorMetrics(loans_repaid=6, products_held=3, app_sessions_30d=20)
    p = repeat_probability(policy, metrics, 0.10)
    assert p == pytest.approx(0.70 * 0.90)
    assert long_term_value(policy, p) == Decimal("12682.62")


@settings(max_examples=100, deadline=None)
@given(behavior_metrics(), st.floats(0.0, 0.5))
def test_long_term_value_is_bounded_and_non_negative(policy, metrics, pd):
    p = repeat_probability(policy, metrics, pd)
    lv = policy.lifetime_value
    assert 0.0 <= p <= lv.max_repeat_probability
    value = long_term_value(policy, p)
    assert Decimal(0) <= value <= lv.future_margin * lv.horizon_years
