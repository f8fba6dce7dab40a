"""Equated monthly instalment (EMI): the standard annuity formula.

``EMI = P * i * (1 + i)^n / ((1 + i)^n - 1)`` with ``i = ROI / 12`` per month and ``n`` months
(pricing-science section 4; any actuarial text, e.g. Kellison, *The Theory of Interest*, ch. 3).

:func:`emi_paise` is the disclosed figure: computed exactly in rationals and rounded half up to
the paisa (see :mod:`domain.finance.money`). :func:`annuity_factor` and :func:`emi_float` are
fast float approximations for the optimiser, never for a disclosed amount.
"""

from __future__ import annotations

import math
from decimal import Decimal
from fractions import Fraction
from functools import lru_cache
from typing import Any

from domain.finance.money import Paise, as_fraction, div_round_half_up

MONTHS_PER_YEAR = 12


def monthly_rate(roi_percent: Decimal) -> Fraction:
    """The exact monthly rate ``i = ROI% / 1200`` (e.g. 12 % a year -> 1/100 a month)."""
    return as_fraction(roi_percent) / (100 * MONTHS_PER_YEAR)


@lru_cache(maxsize=1024, typed=True)
def monthly_rate_terms(roi_percent: Decimal) -> tuple[int, int]:
    """``(a, b)`` with ``i = a / b`` in lowest terms, ``b > 0``; validates ``0 <= roi <= 100``."""
    rate = monthly_rate(roi_percent)
    if not 0 <= rate <= Fraction(100, 1200):
        raise ValueError(f"roi must be between 0 and 100 percent, got {roi_percent}")
    return rate.numerator, rate.denominator


def emi_paise(principal_paise: Paise, roi_percent: Decimal, tenure_months: int) -> Paise:
    """The level EMI in paise, exact then rounded half up; ROI 0 gives ``P / n`` rounded.

    With ``i = a/b`` the formula is ``P*a*(a+b)^n / (b*((a+b)^n - b^n))``: pure integers.
    """
    check_loan(principal_paise, tenure_months)
    a, b = monthly_rate_terms(roi_percent)
    return emi_from_terms(principal_paise, a, b, tenure_months)


def emi_from_terms(principal_paise: Paise, a: int, b: int, tenure_months: int) -> Paise:
    """:func:`emi_paise` for a checked loan whose monthly rate is ``a / b``
    (:func:`monthly_rate_terms`): for callers that need the terms themselves too."""
    if a == 0:
        return div_round_half_up(principal_paise, tenure_months)
    numerator, denominator = _annuity_ratio(a, b, tenure_months)
    return div_round_half_up(principal_paise * numerator, denominator)


@lru_cache(maxsize=4096)
def _annuity_ratio(a: int, b: int, tenure_months: int) -> tuple[int, int]:
    """``(a (a+b)^n, b ((a+b)^n - b^n))``: the EMI per unit of principal as exact integers.
    Offers share few rates (multiples of the rounding step) and tenures, so the powers - big
    integers of hundreds of bits - are computed once per pair, not per offer."""
    growth = (a + b) ** tenure_months
    return a * growth, b * (growth - b**tenure_months)


def annuity_factor(annual_rate: Any, tenure_months: int) -> Any:
    """Present value of 1 a month for ``n`` months: ``(1 - (1 + i)^-n) / i``, ``i = rate / 12``.

    ``annual_rate`` is a fraction (0.12 for 12 %). A float gives a float (``n`` when the rate is
    0, accurate near 0). A numpy array of rates also works, elementwise, because that branch uses
    arithmetic operators only; zero rates are not special-cased there (they give NaN).
    """
    if type(annual_rate) is float or isinstance(annual_rate, int | float):  # float: cheap check
        i = annual_rate / MONTHS_PER_YEAR
        if i == 0:
            return float(tenure_months)
        return -math.expm1(-tenure_months * math.log1p(i)) / i
    i = annual_rate / MONTHS_PER_YEAR
    return (1 - (1 + i) ** -tenure_months) / i


def emi_float(principal: Any, annual_rate: Any, n: int) -> Any:
    """Approximate EMI in float currency units (``P / annuity_factor``); arrays broadcast."""
    return principal / annuity_factor(annual_rate, n)


def check_loan(principal_paise: int, tenure_months: int) -> None:
    if principal_paise <= 0:
        raise ValueError(f"principal must be positive, got {principal_paise} paise")
    if tenure_months < 1:
        raise ValueError(f"tenure must be at least 1 month, got {tenure_months}")
