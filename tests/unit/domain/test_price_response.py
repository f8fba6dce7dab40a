"""Logistic price response and the Lambert W optimal rate (pricing-science section 3)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.special import lambertw

from domain.optimization.economics import one_period_break_even
from domain.optimization.price_response import PriceResponseCurve, optimal_rate, take_up

BP = 1e-4


def test_worked_example():
    r0 = one_period_break_even(0.02, 0.60, 0.07, 0.0)
    r_star = float(optimal_rate(r0, -5.0, 30.0))
    assert r0 == pytest.approx(0.083673, abs=5e-7)
    assert r_star == pytest.approx(0.158982, abs=5e-7)
    assert float(take_up(r_star, -5.0, 30.0)) == pytest.approx(0.5574, abs=5e-5)
    curve = PriceResponseCurve(intercept=-5.0, slope=30.0)
    assert curve.optimal_rate(r0) == pytest.approx(0.158982, abs=5e-7)
    assert curve.take_up(r_star) == pytest.approx(0.5574, abs=5e-5)


def test_worked_example_against_scipy_lambertw_directly():
    a, b = -5.0, 30.0
    r0 = (0.07 + 0.02 * 0.60) / (1 - 0.02)
    w = lambertw(math.exp(-(1 + a + b * r0)), k=0)
    assert abs(w.imag) < 1e-15
    closed_form = r0 + (1 + w.real) / b
    assert closed_form == pytest.approx(0.158982, abs=5e-7)
    assert float(optimal_rate(r0, a, b)) == pytest.approx(closed_form, abs=1e-12)


def test_first_order_condition_in_the_worked_example():
    a, b, r0 = -5.0, 30.0, 0.0836734693877551
    r_star = float(optimal_rate(r0, a, b))
    rho = float(take_up(r_star, a, b))
    assert r_star - r0 == pytest.approx(1 / (b * (1 - rho)), rel=1e-10)


@settings(max_examples=200, deadline=None)
@given(st.floats(-15, 5), st.floats(0.5, 120), st.floats(0.0, 0.4))
def test_closed_form_matches_scipy_lambertw(a, b, r0):
    x = -(1 + a + b * r0)
    if x < 600:  # exp overflows beyond; wrightomega need not
        expected = r0 + (1 + lambertw(math.exp(x)).real) / b
        assert float(optimal_rate(r0, a, b)) == pytest.approx(expected, rel=1e-9, abs=1e-12)


@settings(max_examples=300, deadline=None)
@given(st.floats(-15, 5), st.floats(0.5, 120), st.floats(0.0, 0.4))
def test_closed_form_maximises_expected_margin_on_a_dense_grid(a, b, r0):
    r_star = float(optimal_rate(r0, a, b))
    assert r_star > r0
    # dense grid: 0.1 bp steps over [r0, r0 + 3 (r* - r0) + 0.05]
    grid = np.arange(r0, r0 + 3 * (r_star - r0) + 0.05, 0.1 * BP)
    profit = take_up(grid, a, b) * (grid - r0)
    best = grid[int(np.argmax(profit))]
    assert abs(best - r_star) <= BP
    assert float(take_up(r_star, a, b)) * (r_star - r0) >= profit.max() * (1 - 1e-9)


def test_optimal_rate_does_not_overflow_for_very_attractive_curves():
    # a far below zero: almost everyone takes up, the optimum sits far above r0
    r_star = float(optimal_rate(0.1, -800.0, 1.0))
    assert math.isfinite(r_star)
    rho = float(take_up(r_star, -800.0, 1.0))
    assert r_star - 0.1 == pytest.approx(1 / (1.0 * (1 - rho)), rel=1e-9)


@settings(max_examples=100, deadline=None)
@given(st.floats(-10, 5), st.floats(0.5, 100), st.floats(0.0, 0.5), st.floats(1e-4, 0.2))
def test_take_up_is_a_probability_decreasing_in_rate(a, b, r, dr):
    low, high = float(take_up(r, a, b)), float(take_up(r + dr, a, b))
    assert 0.0 <= high <= low <= 1.0
    assert float(take_up(-a / b, a, b)) == pytest.approx(0.5)


def test_vectorised_optimal_rate():
    r0 = np.array([0.08, 0.10, 0.12])
    a = np.array([-5.0, -6.0, -4.0])
    result = optimal_rate(r0, a, 30.0)
    for k in range(3):
        assert result[k] == pytest.approx(float(optimal_rate(r0[k], a[k], 30.0)), abs=1e-15)
