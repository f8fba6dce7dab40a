from decimal import Decimal
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.finance.instalment import annuity_factor, emi_float, emi_paise, monthly_rate
from domain.finance.money import div_round_half_up

rois = st.integers(0, 10_000).map(lambda bp: Decimal(bp) / 100)


def textbook_emi(principal: int, roi: Decimal, n: int) -> int:
    i = Fraction(roi) / 1200
    if i == 0:
        return div_round_half_up(principal, n)
    exact = principal * i * (1 + i) ** n / ((1 + i) ** n - 1)
    return div_round_half_up(exact.numerator, exact.denominator)


def test_emi_textbook_value():
    # Rs 1,00,000 at 12 % for 12 months: EMI = 8,884.8789 -> 8,884.88
    assert emi_paise(10_000_000, Decimal("12"), 12) == 888_488


def test_emi_of_the_cli_example():
    # Rs 47,000 at 21 % for 24 months: EMI = 2,415.1256 -> 2,415.13
    assert emi_paise(4_700_000, Decimal("21"), 24) == 241_513


def test_emi_rounds_half_up():
    # Rs 50 for one month at 12 %: 50 * 1.01 = 50.50 exactly; 1 paisa at 12 % for 1 month:
    # 1.01 paise -> 1; 50 paise -> 50.5 -> 51
    assert emi_paise(50, Decimal("12"), 1) == 51
    assert emi_paise(1, Decimal("12"), 1) == 1


@pytest.mark.parametrize(
    ("principal", "n", "expected"), [(10_000_000, 12, 833_333), (200, 3, 67), (100, 8, 13)]
)
def test_zero_rate_is_principal_over_tenure_rounded(principal, n, expected):
    assert emi_paise(principal, Decimal("0"), n) == expected


@given(st.integers(1, 10**11), rois, st.integers(1, 600))
def test_emi_matches_the_annuity_formula_in_fractions(principal, roi, n):
    assert emi_paise(principal, roi, n) == textbook_emi(principal, roi, n)


def test_monthly_rate_is_exact():
    assert monthly_rate(Decimal("12")) == Fraction(1, 100)
    assert monthly_rate(Decimal("21")) == Fraction(7, 400)
    assert monthly_rate(Decimal("10")) == Fraction(1, 120)


@pytest.mark.parametrize(
    ("principal", "roi", "n"),
    [
        (0, "12", 12),
        (-1, "12", 12),
        (100, "12", 0),
        (100, "-1", 12),
        (100, "100.01", 12),
        (100, "NaN", 12),
    ],
)
def test_emi_rejects_invalid_terms(principal, roi, n):
    with pytest.raises(ValueError):
        emi_paise(principal, Decimal(roi), n)


def test_annuity_factor_floats():
    assert annuity_factor(0.12, 12) == pytest.approx(11.255077473484630, rel=1e-14)
    assert annuity_factor(0.0, 12) == 12.0
    assert annuity_factor(1e-15, 12) == pytest.approx(12.0, rel=1e-12)
    assert emi_float(100_000.0, 0.12, 12) == pytest.approx(8884.878867834171, rel=1e-14)


def test_annuity_factor_broadcasts_over_numpy_rates():
    rates = np.array([0.08, 0.12, 0.24, 0.36])
    factors = annuity_factor(rates, 36)
    assert factors.shape == (4,)
    assert factors == pytest.approx([annuity_factor(float(r), 36) for r in rates], rel=1e-12)
    emis = emi_float(50_000.0, rates, 36)
    assert emis == pytest.approx([emi_float(50_000.0, float(r), 36) for r in rates], rel=1e-12)


@given(st.integers(100_000, 10**10), rois.filter(bool), st.integers(1, 600))
def test_float_emi_is_close_to_exact(principal, roi, n):
    exact = emi_paise(principal, roi, n)
    assert emi_float(principal, float(roi) / 100, n) == pytest.approx(exact, abs=0.5 + 1e-9 * exact)
