"""Price a family of candidate loans for one applicant, vectorised over the candidates.

For each candidate: fee, its own break-even ``r0`` (amortising model), the price-response curve
(the applicant's curve shifted by how far the candidate is from the request), the unconstrained
optimum ``r*`` (Lambert W), then in this order:

1. clamp to the applicant's band ``[minRoi, maxRoi]`` (MIN_ROI_FLOOR / MAX_ROI_CAP bind);
2. adjustment rules from the policy, in policy order, each recorded in bps;
3. the discount cap (DISCOUNT_CAP gives back what exceeds ``max_total_discount_bps``);
4. value preservation: never below ``max(minRoi, r0 + min_margin)`` (VALUE_FLOOR), never above
   ``maxRoi`` (MAX_ROI_CAP); a candidate whose floor exceeds its ceiling is infeasible (MIN_MARGIN);
5. rounding to the policy step, towards the inside of ``[floor, ceiling]``.

So ``roi = clamp(r*, minRoi, maxRoi) + sum(adjustments)`` up to the rounding step. A candidate
survives when its expected NPV reaches the policy minimum and its EMI fits the FOIR allowance.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

import numpy as np

from domain.applicant import CreditProfile, LoanRequest
from domain.behavior.analysis import BehaviorAnalysis
from domain.behavior.metrics import BehaviorMetrics
from domain.finance.instalment import annuity_factor
from domain.optimization.candidates import Candidate
from domain.optimization.economics import exposure_factors
from domain.optimization.price_response import optimal_rate, take_up
from domain.policy.model import AdjustmentRule, PricingPolicy, RiskBand
from domain.risk.assessment import RiskAssessment

BPS = 1e-4


@dataclass(frozen=True, slots=True)
class ApplicantContext:
    policy: PricingPolicy
    credit: CreditProfile
    behavior_metrics: BehaviorMetrics
    request: LoanRequest
    risk: RiskAssessment
    behavior: BehaviorAnalysis

    @property
    def band(self) -> RiskBand:
        assert self.risk.band is not None
        return self.risk.band


@dataclass(frozen=True, slots=True)
class PricedFamily:
    """Arrays indexed like ``candidates``; rates are fractions per year."""

    candidates: tuple[Candidate, ...]
    fee: tuple[Decimal, ...]
    break_even: np.ndarray
    intercept: np.ndarray
    slope: float
    optimal: np.ndarray
    banded: np.ndarray
    rule_deltas_bps: np.ndarray      # (rules, candidates)
    discount_cap_bps: np.ndarray
    value_floor_bps: np.ndarray
    cap_bps: np.ndarray
    roi_bps: np.ndarray              # integer bps after rounding
    feasible: np.ndarray
    margin_infeasible: np.ndarray
    conversion: np.ndarray
    expected_profit: np.ndarray      # INR if booked
    risk_impact: np.ndarray          # percent per year
    objective: np.ndarray


def processing_fee(policy: PricingPolicy, band: RiskBand, amount: Decimal,
                   loans_repaid: int) -> Decimal:
    """Band percentage of the amount within [minimum, maximum], less waivers, to the rupee."""
    fees = policy.fees
    fee = min(max(amount * band.fee_percent / 100, fees.minimum), fees.maximum)
    waiver = max((w.waiver_percent for w in fees.waivers if loans_repaid >= w.min_loans_repaid),
                 default=Decimal(0))
    fee = fee * (100 - waiver) / 100
    return fee.quantize(Decimal("1"), rounding=ROUND_HALF_UP)


def rule_applies(rule: AdjustmentRule, ctx: ApplicantContext, amounts: np.ndarray,
                 tenures: np.ndarray) -> np.ndarray:
    w = rule.when
    mask = np.ones(len(amounts), dtype=bool)
    if w.min_loans_repaid is not None and ctx.behavior_metrics.loans_repaid < w.min_loans_repaid:
        mask[:] = False
    if w.employer_categories is not None and ctx.credit.employer_category not in w.employer_categories:
        mask[:] = False
    if w.risk_bands is not None and ctx.band.name not in w.risk_bands:
        mask[:] = False
    if w.sensitivities is not None and ctx.behavior.price_sensitivity not in w.sensitivities:
        mask[:] = False
    if w.min_tenure is not None:
        mask &= tenures >= w.min_tenure
    if w.max_tenure is not None:
        mask &= tenures <= w.max_tenure
    if w.min_amount is not None:
        mask &= amounts >= float(w.min_amount)
    if w.max_amount is not None:
        mask &= amounts <= float(w.max_amount)
    return mask


def _intercepts(ctx: ApplicantContext, amounts: np.ndarray, tenures: np.ndarray) -> np.ndarray:
    pr = ctx.policy.price_response
    base = np.full(len(amounts), ctx.behavior.price_response.intercept)
    if ctx.request.requested_amount is not None:
        shortfall = np.clip(1.0 - amounts / float(ctx.request.requested_amount), 0.0, 1.0)
        base += pr.amount_shortfall_penalty * shortfall
    if ctx.request.requested_tenure is not None:
        base += pr.tenure_mismatch_penalty_per_year * np.abs(tenures - ctx.request.requested_tenure) / 12
    return base


def _round_inside(rate: np.ndarray, low: np.ndarray, high: np.ndarray, step: int
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Round to the step in bps, then move inward if rounding left [low, high]."""
    bps = np.rint(rate / BPS / step) * step
    low_bps, high_bps = low / BPS, high / BPS
    bps = np.where(bps < low_bps - 1e-6, np.ceil(low_bps / step - 1e-9) * step, bps)
    bps = np.where(bps > high_bps + 1e-6, np.floor(high_bps / step + 1e-9) * step, bps)
    ok = (bps >= low_bps - 1e-6) & (bps <= high_bps + 1e-6)
    return bps.astype(np.int64), ok


def price_family(ctx: ApplicantContext, candidates: list[Candidate]) -> PricedFamily:
    policy, risk = ctx.policy, ctx.risk
    econ, rates = policy.economics, policy.rates
    amounts = np.array([float(c.amount) for c in candidates])
    tenures = np.array([c.tenure for c in candidates], dtype=np.int64)
    fee_by_amount = {a: processing_fee(policy, ctx.band, a, ctx.behavior_metrics.loans_repaid)
                     for a in {c.amount for c in candidates}}
    fees = tuple(fee_by_amount[c.amount] for c in candidates)
    fee_fraction = np.array([float(f) for f in fees]) / amounts

    unique_tenures, index = np.unique(tenures, return_inverse=True)
    exposure = exposure_factors(risk.probability_of_default, unique_tenures,
                                risk.break_even_roi, econ.discount_rate)
    a_exp = exposure.interest_exposure[index]
    r0 = exposure.break_even(econ.loss_given_default, econ.cost_of_funds, econ.opex,
                             0.0)[index] - fee_fraction / a_exp
    slope = ctx.behavior.price_response.slope
    intercept = _intercepts(ctx, amounts, tenures)
    r_star = optimal_rate(r0, intercept, slope)
    banded = np.clip(r_star, risk.min_roi, risk.max_roi)

    rule_deltas = np.array([np.where(rule_applies(rule, ctx, amounts, tenures), rule.delta_bps, 0)
                            for rule in policy.adjustments], dtype=float).reshape(
                                len(policy.adjustments), len(candidates))
    discounts = np.minimum(rule_deltas, 0).sum(axis=0)
    discount_cap = np.maximum(0.0, -discounts - rates.max_total_discount_bps)
    adjusted = banded + (rule_deltas.sum(axis=0) + discount_cap) * BPS

    floor = np.maximum(risk.min_roi, r0 + econ.min_margin)
    ceiling = np.full(len(candidates), risk.max_roi)
    value_floor = np.maximum(0.0, floor - adjusted) / BPS
    cap = np.minimum(0.0, ceiling - (adjusted + value_floor * BPS)) / BPS
    preserved = adjusted + (value_floor + cap) * BPS
    roi_bps, rounding_ok = _round_inside(preserved, floor, ceiling, rates.rounding_step_bps)
    margin_ok = floor <= ceiling + 1e-12
    roi = roi_bps * BPS

    conversion = take_up(roi, intercept, slope)
    profit = amounts * a_exp * (roi - r0)
    emi = amounts / annuity_factor(roi, tenures)
    affordable = emi <= float(risk.affordability.max_new_emi) + 0.005
    feasible = (margin_ok & rounding_ok & affordable
                & (profit >= float(econ.min_expected_profit)))
    ltv = float(ctx.behavior.long_term_value)
    objective = conversion * (profit + policy.ranking.lifetime_value_weight * ltv)
    loss_part = econ.loss_given_default * exposure.expected_loss_exposure[index] / a_exp
    return PricedFamily(
        candidates=tuple(candidates), fee=fees, break_even=r0, intercept=intercept, slope=slope,
        optimal=r_star, banded=banded, rule_deltas_bps=rule_deltas, discount_cap_bps=discount_cap,
        value_floor_bps=value_floor, cap_bps=cap, roi_bps=roi_bps, feasible=feasible,
        margin_infeasible=~margin_ok, conversion=conversion, expected_profit=profit,
        risk_impact=loss_part * 100, objective=objective,
    )
