"""Price segments to reach a target take-up at maximum expected profit (pricing-science §3).

Segments ``i`` (weights ``w_i``: applicants, or amounts for a volume in rupees) each have the
logistic take-up ``rho_i(r) = 1 / (1 + exp(a_i + b_i r))``, a margin ``K_i (r - r0_i)`` per unit
booked (``K_i = 1 - PD_i`` in the one-period model, the amortising exposure ``A`` otherwise) and a
rate band ``[lo_i, hi_i]``. The problem

    maximise  sum_i w_i rho_i(r_i) K_i (r_i - r0_i)
    subject to  sum_i w_i rho_i(r_i) >= V sum_i w_i,   lo_i <= r_i <= hi_i

has the Lagrangian ``sum_i w_i rho_i(r_i) (K_i (r_i - r0_i) + lambda)``: for a fixed
``lambda >= 0`` each segment maximises ``rho_i(r) K_i (r - (r0_i - lambda / K_i))`` alone, i.e.
Phillips' Lambert W optimum with the break-even moved down by ``lambda / K_i``, clamped to its
band (the objective is unimodal in ``r``). Total take-up rises monotonically with ``lambda``, so
the smallest ``lambda`` that reaches the target is found by bisection; with ``lambda = 0``
already reaching it the constraint does not bind. If even every segment at its band floor falls
short, the target is infeasible and the floors (the most volume the bands allow) are returned.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from domain.optimization.price_response import optimal_rate, take_up

#: Bisection stops when lambda is known to this (in margin units per unit booked).
LAMBDA_TOLERANCE = 1e-12
MAX_ITERATIONS = 200


@dataclass(frozen=True, slots=True)
class Segments:
    """One entry per segment (numpy arrays of equal length); rates are fractions per year."""

    weight: np.ndarray
    break_even: np.ndarray
    intercept: np.ndarray
    slope: np.ndarray
    margin_factor: np.ndarray
    min_rate: np.ndarray
    max_rate: np.ndarray

    def __post_init__(self) -> None:
        n = len(self.weight)
        for name in ("break_even", "intercept", "slope", "margin_factor", "min_rate", "max_rate"):
            if len(getattr(self, name)) != n:
                raise ValueError(f"segments: {name} has {len(getattr(self, name))} entries, "
                                 f"weight has {n}")
        if n == 0:
            raise ValueError("segments: at least one segment is needed")
        if np.any(self.weight < 0) or not np.any(self.weight > 0):
            raise ValueError("segments: weights must be >= 0 and not all 0")
        if np.any(self.slope <= 0) or np.any(self.margin_factor <= 0):
            raise ValueError("segments: slopes and margin factors must be positive")
        if np.any(self.min_rate > self.max_rate):
            raise ValueError("segments: a band floor lies above its ceiling")


@dataclass(frozen=True, slots=True)
class VolumePlan:
    rates: np.ndarray           # per segment, fractions per year
    take_up: np.ndarray         # per segment
    mean_take_up: float         # weighted
    expected_profit: float      # sum w K rho (r - r0)
    shadow_price: float         # lambda: profit given up per extra unit of take-up at the margin
    binding: bool               # the target moved prices
    feasible: bool              # the target is reachable within the bands


def rates_for(segments: Segments, shadow_price: float) -> np.ndarray:
    """Each segment's profit-optimal rate with the break-even moved down by lambda / K."""
    shifted = segments.break_even - shadow_price / segments.margin_factor
    best = optimal_rate(shifted, segments.intercept, segments.slope)
    return np.clip(best, segments.min_rate, segments.max_rate)


def _plan(segments: Segments, rates: np.ndarray, shadow_price: float, binding: bool,
          feasible: bool) -> VolumePlan:
    rho = take_up(rates, segments.intercept, segments.slope)
    w = segments.weight
    profit = float(np.sum(w * rho * segments.margin_factor * (rates - segments.break_even)))
    return VolumePlan(rates, rho, float(np.sum(w * rho) / np.sum(w)), profit, shadow_price,
                      binding, feasible)


def mean_take_up(segments: Segments, rates: np.ndarray) -> float:
    rho = take_up(rates, segments.intercept, segments.slope)
    return float(np.sum(segments.weight * rho) / np.sum(segments.weight))


def price_for_volume(segments: Segments, target_take_up: float) -> VolumePlan:
    """The maximum-profit rates whose weighted mean take-up reaches ``target_take_up``."""
    if not 0.0 < target_take_up < 1.0:
        raise ValueError("target take-up must be between 0 and 1 (exclusive)")
    free = rates_for(segments, 0.0)
    if mean_take_up(segments, free) >= target_take_up:
        return _plan(segments, free, 0.0, binding=False, feasible=True)
    if mean_take_up(segments, segments.min_rate) < target_take_up:
        return _plan(segments, segments.min_rate.copy(), float("inf"), binding=True,
                     feasible=False)
    low, high = 0.0, 1.0
    while mean_take_up(segments, rates_for(segments, high)) < target_take_up:
        high *= 2.0   # terminates: large lambda drives every rate to its floor, which suffices
    for _ in range(MAX_ITERATIONS):
        if high - low <= LAMBDA_TOLERANCE * max(1.0, high):
            break
        middle = 0.5 * (low + high)
        if mean_take_up(segments, rates_for(segments, middle)) >= target_take_up:
            high = middle
        else:
            low = middle
    return _plan(segments, rates_for(segments, high), high, binding=True, feasible=True)
