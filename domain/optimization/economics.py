"""Lender economics per unit of principal: break-even rate, exposure, expected NPV profit.

One-period model (Thomas, *Consumer Credit Models*, ch. 3; pricing-science section 2)::

    m(r)  = (1 - PD) (r - r0)
    r0    = (c_f + opex + PD * LGD - fee) / (1 - PD)

Amortising generalisation used for offers. Over the months k = 1..n of an EMI loan, with
``b[k-1]`` the contractual balance fraction at the start of month k, survival
``S_k = (1 - h)^k`` for the monthly default hazard ``h = 1 - (1 - PD)^(1/12)`` (PD is a 12-month
probability), and ``v = 1 / (1 + d/12)`` the hurdle-rate discount factor, the expected NPV of the
lender's net cash flows per unit of principal is::

    NPV(r) = fee + sum_k v^k [ S_k b[k-1] r/12                 (interest from survivors)
                             - S_{k-1} b[k-1] (c_f + opex)/12   (funding and servicing)
                             - S_{k-1} h b[k-1] LGD ]           (expected loss)
           = A (r - r0)

    A = sum_k v^k S_k b[k-1] / 12
    B = sum_k v^k S_{k-1} b[k-1] / 12
    H = sum_k v^k S_{k-1} h b[k-1]
    r0 = ((c_f + opex) B + LGD H - fee) / A

The balance profile is taken at a reference rate (the applicant's one-period break-even rate), so
NPV is linear in ``r`` and the profit-optimal rate keeps Phillips' closed form exactly. With one
annual period (``periods_per_year=1``, ``n=1``) and no discounting, A = 1 - PD, B = 1, H = PD and
r0 is the one-period formula: the tested special case.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from domain.slotted import fast_init


def one_period_break_even(pd: float, lgd: float, cost_of_funds: float, opex: float,
                          fee: float = 0.0) -> float:
    """r0 = (c_f + opex + PD * LGD - fee) / (1 - PD)."""
    return (cost_of_funds + opex + pd * lgd - fee) / (1.0 - pd)


@fast_init
@dataclass(frozen=True, slots=True)
class ExposureFactors:
    """A, B, H of the amortising model, one entry per tenure (arrays)."""

    tenures: np.ndarray
    interest_exposure: np.ndarray   # A
    funding_exposure: np.ndarray    # B
    expected_loss_exposure: np.ndarray  # H
    stacked: np.ndarray             # (3, tenures): A, B, H as rows (the three above are views)

    def break_even(self, lgd: float, cost_of_funds: float, opex: float,
                   fee: np.ndarray | float) -> np.ndarray:
        a, b, h = self.interest_exposure, self.funding_exposure, self.expected_loss_exposure
        return ((cost_of_funds + opex) * b + lgd * h - fee) / a


def exposure_factors(pd: float, tenures: np.ndarray | list[int], reference_rate: float,
                     discount_rate: float, periods_per_year: int = 12) -> ExposureFactors:
    key = tuple(tenures) if isinstance(tenures, list) else tuple(np.asarray(tenures).tolist())
    grid = _tenure_grid(key, discount_rate, periods_per_year)
    k_minus_1, discount, n = grid.k_minus_1, grid.discount, grid.n
    i = reference_rate / periods_per_year
    # Below ~1e-12 a month, (1 + i)**n - 1 loses every digit to rounding (0/0 at machine
    # epsilon); the straight-line zero-rate balance is then exact to within that rounding.
    # Scalars enter the array passes as 0-d arrays: the same numbers, and NumPy 2's handling
    # of a Python float operand costs about half as much again as the pass itself here.
    if i > 1e-12:
        growth = np.asarray(1.0 + i)
        growth_n = growth ** n
        balance = (growth_n - growth ** k_minus_1) / (growth_n - _ONE)  # b[k-1]
    else:
        balance = (n - k_minus_1) / n
    balance = np.where(grid.active, balance, _ZERO)
    hazard = 1.0 - (1.0 - pd) ** (1.0 / periods_per_year)
    surviving = np.asarray(1.0 - hazard)
    survival_prev = surviving ** k_minus_1
    survival = survival_prev * surviving
    # Products taken left to right as before (discount * survival first), each once; the
    # three sums over the months in one reduction (each row of the stack is summed exactly as
    # a row of its own would be), scaled by one column (x * 1.0 == x for H).
    discounted_prev = discount * survival_prev
    weights = np.array([discount * survival, discounted_prev, discounted_prev * np.asarray(hazard)])
    stacked = _sum(weights[:, None, :] * balance, axis=2) * grid.scale
    a, b, h = stacked
    return ExposureFactors(tenures=grid.tenures, interest_exposure=a, funding_exposure=b,
                           expected_loss_exposure=h, stacked=stacked)


#: Distinct (PD, tenures, reference rate) keys kept by :func:`shared_exposure_factors`: a few
#: per scorecard score and set of tenures (~200 scores among 10,000 demo applicants), ~1 KB each.
SHARED_EXPOSURES = 4096


@lru_cache(maxsize=SHARED_EXPOSURES)
def shared_exposure_factors(pd: float, tenures: tuple[int, ...], reference_rate: float,
                            discount_rate: float) -> ExposureFactors:
    """:func:`exposure_factors` computed once per distinct input and shared (read-only).

    Its inputs are few per policy: the PD and the reference rate (the break-even ROI) follow
    from the scorecard score, a sum of bin points, so thousands of applicants share a few
    hundred of them (216 keys for 1,815 grid families of distinct demo applicants); each
    family priced would otherwise repeat ~15 numpy passes over up to (3, tenures, months).
    Keys compare as floats do, so +0.0 and -0.0 share an entry: the factors are the same for
    both (the PD enters as ``1 - pd``, the rate only through ``i > 1e-12`` and ``1 + i``).
    """
    exposure = exposure_factors(pd, list(tenures), reference_rate, discount_rate)
    for array in (exposure.tenures, exposure.stacked, exposure.interest_exposure,
                  exposure.funding_exposure, exposure.expected_loss_exposure):
        array.flags.writeable = False  # shared by every family with this key
    return exposure


_sum = np.add.reduce  # ndarray.sum without its Python wrapper
_ONE, _ZERO = np.asarray(1.0), np.asarray(0.0)


@fast_init
@dataclass(frozen=True, slots=True)
class _TenureGrid:
    """What the exposure factors of a set of tenures share across applicants (read-only)."""

    tenures: np.ndarray     # int64
    n: np.ndarray           # the tenures as a float column
    k_minus_1: np.ndarray   # periods k - 1 = 0..horizon - 1
    discount: np.ndarray    # (1 + d/p)^-k
    active: np.ndarray      # (tenures, periods): k <= n
    scale: np.ndarray       # (3, 1): year fraction for A and B, 1 for H


@lru_cache(maxsize=256)
def _tenure_grid(tenures: tuple[int, ...], discount_rate: float, periods_per_year: int
                 ) -> _TenureGrid:
    k, k_minus_1, discount = _periods(max(tenures), discount_rate, periods_per_year)
    tenure_array = np.asarray(tenures, dtype=np.int64)
    n = tenure_array.astype(np.float64)[:, None]
    year_fraction = 1.0 / periods_per_year
    grid = _TenureGrid(tenures=tenure_array, n=n, k_minus_1=k_minus_1, discount=discount,
                       active=k <= n, scale=np.array([[year_fraction], [year_fraction], [1.0]]))
    for array in (grid.tenures, grid.n, grid.active, grid.scale):
        array.flags.writeable = False
    return grid


@lru_cache(maxsize=64)
def _periods(horizon: int, discount_rate: float, periods_per_year: int
             ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Periods k = 1..horizon, k - 1, and the discount factors (1 + d/p)^-k: the same for every
    applicant of a policy (read-only: they are shared)."""
    k = np.arange(1, horizon + 1, dtype=np.float64)
    k_minus_1 = k - 1.0
    discount = (1.0 + discount_rate / periods_per_year) ** (-k)
    for array in (k, k_minus_1, discount):
        array.flags.writeable = False
    return k, k_minus_1, discount
