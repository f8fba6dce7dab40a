"""Lender economics: the one-period break-even rate and the amortising model's special case
(pricing-science section 2)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.optimization.economics import exposure_factors, one_period_break_even

pds = st.floats(min_value=0.0, max_value=0.5)
lgds = st.floats(min_value=0.0, max_value=1.0)
costs = st.floats(min_value=0.0, max_value=0.2)
fees = st.floats(min_value=0.0, max_value=0.05)


def test_worked_example_break_even():
    # a=-5, b=30, PD=0.02, LGD=0.60, c_f=0.07, no opex, no fee
    assert one_period_break_even(0.02, 0.60, 0.07, 0.0) == pytest.approx(0.083673, abs=5e-7)


def test_break_even_formula_by_hand():
    # (0.08 + 0.015 + 0.05 * 0.65 - 0.01) / 0.95
    assert one_period_break_even(0.05, 0.65, 0.08, 0.015, fee=0.01) == pytest.approx(
        0.1236842105, abs=1e-10)


@settings(max_examples=200, deadline=None)
@given(pds, lgds, costs, costs, fees)
def test_margin_vanishes_at_break_even(pd, lgd, cf, opex, fee):
    r0 = one_period_break_even(pd, lgd, cf, opex, fee)
    # per unit of principal: interest from survivors + fee - funding - servicing - expected loss
    assert (1 - pd) * r0 + fee - cf - opex - pd * lgd == pytest.approx(0.0, abs=1e-12)


@settings(max_examples=200, deadline=None)
@given(st.floats(0.0, 0.4), st.floats(0.001, 0.1), st.floats(0.05, 1.0), costs, costs)
def test_break_even_rises_with_pd(pd, extra, lgd, cf, opex):
    assert one_period_break_even(pd + extra, lgd, cf, opex) > one_period_break_even(
        pd, lgd, cf, opex)


@settings(max_examples=200, deadline=None)
@given(pds, lgds, costs, costs, fees, st.just(0.0) | st.floats(1e-9, 0.5))
def test_one_period_special_case_of_the_amortising_model(pd, lgd, cf, opex, fee, reference):
    exposure = exposure_factors(pd, [1], reference, discount_rate=0, periods_per_year=1)
    assert exposure.interest_exposure[0] == pytest.approx(1 - pd, abs=1e-12)
    assert exposure.funding_exposure[0] == pytest.approx(1.0, abs=1e-12)
    assert exposure.expected_loss_exposure[0] == pytest.approx(pd, abs=1e-12)
    assert exposure.break_even(lgd, cf, opex, fee)[0] == pytest.approx(
        one_period_break_even(pd, lgd, cf, opex, fee), abs=1e-12)


def test_one_period_special_case_worked_example():
    exposure = exposure_factors(0.02, [1], 0.0836734693877551, discount_rate=0,
                                periods_per_year=1)
    assert exposure.break_even(0.60, 0.07, 0.0, 0.0)[0] == pytest.approx(0.083673, abs=5e-7)
    assert exposure.break_even(0.60, 0.07, 0.0, 0.01)[0] == pytest.approx(
        one_period_break_even(0.02, 0.60, 0.07, 0.0, fee=0.01), abs=1e-15)


def test_amortising_exposure_matches_a_direct_loop():
    pd, ref, d, n = 0.04, 0.15, 0.12, 24
    exposure = exposure_factors(pd, [n], ref, discount_rate=d)
    i, h = ref / 12, 1 - (1 - pd) ** (1 / 12)
    balance = 1.0
    emi = i / (1 - (1 + i) ** -n)
    a = b = loss = 0.0
    for k in range(1, n + 1):
        v = (1 + d / 12) ** -k
        survive_prev, survive = (1 - h) ** (k - 1), (1 - h) ** k
        a += v * survive * balance / 12
        b += v * survive_prev * balance / 12
        loss += v * survive_prev * h * balance
        balance = balance * (1 + i) - emi
    assert abs(balance) < 1e-12
    assert exposure.interest_exposure[0] == pytest.approx(a, rel=1e-12)
    assert exposure.funding_exposure[0] == pytest.approx(b, rel=1e-12)
    assert exposure.expected_loss_exposure[0] == pytest.approx(loss, rel=1e-12)


def test_exposure_is_vectorised_over_tenures():
    many = exposure_factors(0.03, [12, 24, 60], 0.14, discount_rate=0.12)
    for k, n in enumerate((12, 24, 60)):
        one = exposure_factors(0.03, [n], 0.14, discount_rate=0.12)
        assert many.interest_exposure[k] == pytest.approx(one.interest_exposure[0], rel=1e-12)
        assert many.expected_loss_exposure[k] == pytest.approx(one.expected_loss_exposure[0],
                                                               rel=1e-12)
    # longer loans stay outstanding longer
    assert np.all(np.diff(many.interest_exposure) > 0)


def test_a_vanishingly_small_reference_rate_behaves_like_zero():
    with np.errstate(invalid="ignore"):
        tiny = exposure_factors(0.02, [12], 1e-17, discount_rate=0.0)
    zero = exposure_factors(0.02, [12], 0.0, discount_rate=0.0)
    assert tiny.interest_exposure[0] == pytest.approx(zero.interest_exposure[0], rel=1e-9)


def test_zero_reference_rate_uses_straight_line_balances():
    exposure = exposure_factors(0.0, [4], 0.0, discount_rate=0.0)
    # balances 1, 3/4, 1/2, 1/4 over 4 months, no default, no discounting
    assert exposure.interest_exposure[0] == pytest.approx(2.5 / 12)
    assert exposure.expected_loss_exposure[0] == 0.0
