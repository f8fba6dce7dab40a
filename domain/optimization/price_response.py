"""Logistic price response and the profit-optimal rate (Phillips, *Pricing Credit Products*, 2018).

    rho(r) = 1 / (1 + exp(a + b r)),  b > 0
    pi(r)  = rho(r) * K * (r - r0),  K > 0
    r*     = r0 + (1 + W0(exp(-(1 + a + b r0)))) / b

``W0(exp(x))`` is Wright's omega function ``omega(x)``, which scipy evaluates without overflowing
``exp`` for large ``x``. Every function here accepts numpy arrays.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import expit, wrightomega

from domain.slotted import fast_init


@fast_init
@dataclass(frozen=True, slots=True)
class PriceResponseCurve:
    """rho(r) = 1/(1+exp(intercept + slope*r)), r a fraction per year."""

    intercept: float
    slope: float

    def take_up(self, rate: float) -> float:
        return float(expit(-(self.intercept + self.slope * rate)))

    def optimal_rate(self, break_even: float) -> float:
        return float(optimal_rate(break_even, self.intercept, self.slope))


def take_up(rate: np.ndarray | float, intercept: np.ndarray | float,
            slope: np.ndarray | float) -> np.ndarray:
    return take_up_from(rate, -intercept, slope)


def take_up_from(rate: np.ndarray | float, negated_intercept: np.ndarray | float,
                 slope: np.ndarray | float) -> np.ndarray:
    """:func:`take_up` given ``-intercept``: -(a + b r) as (-a) - b r, the same float
    (negation is exact and rounding to nearest is symmetric), so one applicant's ``-a`` is
    taken once, not per row."""
    return expit(negated_intercept - slope * rate)


def optimal_rate(break_even: np.ndarray | float, intercept: np.ndarray | float,
                 slope: np.ndarray | float) -> np.ndarray:
    """Maximiser of rho(r) (r - r0): the Lambert W closed form (pricing-science section 3)."""
    return optimal_rate_from(break_even, -1.0 - intercept, slope)


def optimal_rate_from(break_even: np.ndarray | float, offset: np.ndarray | float,
                      slope: np.ndarray | float, one: np.ndarray | float = 1.0) -> np.ndarray:
    """:func:`optimal_rate` given ``offset = -1 - intercept``: -(1 + a + b r0) is
    (-1 - a) - b r0, the same float (see :func:`take_up_from`). ``one`` may be a 0-d array
    (cheaper array passes, same numbers)."""
    omega = wrightomega(offset - slope * break_even)
    if omega.dtype.kind == "c":  # real for real input; np.real's wrapper costs a call otherwise
        omega = omega.real
    return break_even + (one + omega) / slope
