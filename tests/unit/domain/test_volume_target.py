"""Volume target: the lambda bisection against closed forms and a numeric optimiser (SLSQP)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.optimize import minimize

from domain.optimization.economics import one_period_break_even
from domain.optimization.volume_target import Segments, price_for_volume

BP = 1e-4


def worked_example() -> Segments:
    """pricing-science §3: a = -5, b = 30, PD 2 %, LGD 60 %, c_f 7 %: r* = 0.158982."""
    pd = 0.02
    r0 = one_period_break_even(pd, 0.60, 0.07, 0.0)
    return Segments(weight=np.array([1.0]), break_even=np.array([r0]), intercept=np.array([-5.0]),
                    slope=np.array([30.0]), margin_factor=np.array([1 - pd]),
                    min_rate=np.array([0.0]), max_rate=np.array([1.0]))


def test_a_target_below_the_free_take_up_changes_nothing() -> None:
    plan = price_for_volume(worked_example(), 0.5)
    assert not plan.binding and plan.feasible and plan.shadow_price == 0.0
    assert plan.rates[0] == pytest.approx(0.158982, abs=1e-6)
    assert plan.mean_take_up == pytest.approx(0.5574, abs=1e-4)


def test_one_segment_prices_exactly_at_the_target() -> None:
    plan = price_for_volume(worked_example(), 0.7)
    # rho(r) = 0.7  <=>  a + b r = ln(1/0.7 - 1)
    assert plan.rates[0] == pytest.approx((math.log(1 / 0.7 - 1) + 5.0) / 30.0, abs=1e-9)
    assert plan.mean_take_up == pytest.approx(0.7, abs=1e-9)
    assert plan.binding and plan.shadow_price > 0


def test_an_unreachable_target_returns_the_floors() -> None:
    segments = worked_example()
    segments = Segments(**{**{f: getattr(segments, f) for f in segments.__dataclass_fields__},
                           "min_rate": np.array([0.15])})
    plan = price_for_volume(segments, 0.9)
    assert not plan.feasible and plan.rates[0] == 0.15


def random_segments(rng: np.random.Generator, n: int) -> Segments:
    pd = rng.uniform(0.005, 0.12, n)
    r0 = np.array([one_period_break_even(p, 0.65, 0.08, 0.015) for p in pd])
    slope = rng.uniform(20.0, 60.0, n)
    midpoint = r0 + rng.uniform(0.02, 0.10, n)
    lo = np.maximum(0.105, r0 + 0.01)
    return Segments(weight=rng.uniform(50, 500, n), break_even=r0, intercept=-slope * midpoint,
                    slope=slope, margin_factor=1 - pd, min_rate=lo,
                    max_rate=np.minimum(0.36, lo + rng.uniform(0.05, 0.2, n)))


def slsqp(segments: Segments, target: float, start: np.ndarray) -> tuple[np.ndarray, float]:
    w, r0, a, b, k = (segments.weight, segments.break_even, segments.intercept, segments.slope,
                      segments.margin_factor)

    def rho(r: np.ndarray) -> np.ndarray:
        return 1 / (1 + np.exp(a + b * r))

    def profit(r: np.ndarray) -> float:
        return float(np.sum(w * rho(r) * k * (r - r0)))

    scale = float(np.sum(w))
    result = minimize(lambda r: -profit(r) / scale, start, method="SLSQP",
                      bounds=list(zip(segments.min_rate, segments.max_rate, strict=True)),
                      constraints=[{"type": "ineq",
                                    "fun": lambda r: np.sum(w * rho(r)) / scale - target}],
                      options={"ftol": 1e-14, "maxiter": 1000})
    return result.x, profit(result.x)


@pytest.mark.parametrize("seed", range(8))
def test_bisection_matches_slsqp(seed: int) -> None:
    rng = np.random.default_rng(seed)
    segments = random_segments(rng, int(rng.integers(2, 9)))
    free = price_for_volume(segments, 0.01)
    most = float(np.sum(segments.weight / (1 + np.exp(segments.intercept + segments.slope
                                                       * segments.min_rate)))
                 / np.sum(segments.weight))
    target = free.mean_take_up + rng.uniform(0.2, 0.8) * (most - free.mean_take_up)
    plan = price_for_volume(segments, target)
    assert plan.binding and plan.feasible
    assert plan.mean_take_up == pytest.approx(target, abs=1e-9)
    starts = [free.rates, segments.min_rate, (segments.min_rate + segments.max_rate) / 2]
    best_rates, best_profit = max((slsqp(segments, target, s) for s in starts),
                                  key=lambda x: x[1])
    # The numeric optimum cannot beat ours; ours is that optimum to within a basis point.
    assert plan.expected_profit >= best_profit - 1e-6 * abs(best_profit)
    assert np.max(np.abs(plan.rates - best_rates)) < BP


def test_invalid_segments_are_refused() -> None:
    with pytest.raises(ValueError, match="target"):
        price_for_volume(worked_example(), 1.0)
    with pytest.raises(ValueError, match="slopes"):
        Segments(np.ones(1), np.zeros(1), np.zeros(1), np.zeros(1), np.ones(1), np.zeros(1),
                 np.ones(1))
