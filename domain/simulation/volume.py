"""A volume target over a simulated portfolio: re-price the approved applicants' rank-1 offers
so that their mean take-up reaches a target at maximum expected profit.

Each approved applicant is one segment of :mod:`domain.optimization.volume_target`: the rank-1
offer's price-response curve, its amortising break-even ``r0`` and NPV per unit of rate
``K = amount x A``, and its rate band ``[max(minRoi, r0 + min margin), maxRoi]``; expected
profit is ``sum rho_i K_i (r_i - r0_i)`` (the ranking's lifetime-value term is left out: the
target trades current profit for volume). Rates are continuous (the policy's rounding step is
not applied): this is a planning figure, the price of the target, not a set of offers.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from domain.optimization.price_response import take_up
from domain.optimization.volume_target import Segments, price_for_volume
from domain.policy.model import PricingPolicy
from domain.simulation.batch import DECLINED, BatchOutcome


@dataclass(frozen=True, slots=True)
class BandShift:
    band: str
    current_roi: float | None    # percent, mean over the band's approved applicants
    planned_roi: float | None


@dataclass(frozen=True, slots=True)
class VolumeTargetReport:
    target_take_up: float
    current_take_up: float
    planned_take_up: float
    current_profit: float        # INR, expected
    planned_profit: float
    shadow_price: float          # INR of profit given up per unit of take-up at the margin
    binding: bool
    feasible: bool
    bands: tuple[BandShift, ...]


def plan_volume_target(outcome: BatchOutcome, policy: PricingPolicy, target_take_up: float
                       ) -> VolumeTargetReport | None:
    """``None`` when nobody is approved (no segment to price)."""
    ok = outcome.decision != DECLINED
    if not ok.any():
        return None
    segments = Segments(
        weight=np.ones(int(ok.sum())), break_even=outcome.break_even[ok],
        intercept=outcome.intercept[ok], slope=outcome.slope[ok],
        margin_factor=outcome.margin_factor[ok], min_rate=outcome.rate_floor[ok],
        max_rate=outcome.rate_ceiling[ok])
    current_rates = outcome.roi_bps[ok] / 1e4
    current_rho = take_up(current_rates, segments.intercept, segments.slope)
    plan = price_for_volume(segments, target_take_up)
    bands = []
    for b, band in enumerate(policy.bands):
        mask = outcome.band[ok] == b
        bands.append(BandShift(
            band.name,
            float(current_rates[mask].mean() * 100) if mask.any() else None,
            float(plan.rates[mask].mean() * 100) if mask.any() else None))
    return VolumeTargetReport(
        target_take_up=target_take_up, current_take_up=float(current_rho.mean()),
        planned_take_up=plan.mean_take_up,
        current_profit=float(np.sum(current_rho * segments.margin_factor
                                    * (current_rates - segments.break_even))),
        planned_profit=plan.expected_profit, shadow_price=plan.shadow_price,
        binding=plan.binding, feasible=plan.feasible, bands=tuple(bands))
