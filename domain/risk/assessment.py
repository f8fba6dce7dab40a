"""Risk assessment: score, PD, band, the ROI band and risk-based recommendations.

    minRoi = max(policy floor, r0 + minimum margin)       (value preservation)
    maxRoi = min(band ceiling, regulatory cap)
    baseRoi = clamp(r0 + band target margin, minRoi, maxRoi)
    riskRange = maxRoi - minRoi

``r0`` here is the one-period break-even rate without fee income (the conservative reference;
each candidate loan also gets its own amortising break-even, see :mod:`domain.optimization`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import ROUND_FLOOR, Decimal
from functools import lru_cache

from domain.applicant import CreditProfile
from domain.finance.instalment import annuity_factor
from domain.optimization.economics import one_period_break_even
from domain.policy.model import PricingPolicy, RiskBand
from domain.reasons import MAX_REASON_CODES, ReasonCode
from domain.risk.scorecard import ScoreResult, score_applicant
from domain.slotted import fast_init

OUT_OF_POLICY_BAND = "OUT_OF_POLICY"


@fast_init
@dataclass(frozen=True, slots=True)
class Affordability:
    """Repayment capacity under the FOIR cap for the applicant's income band."""

    foir_cap: float
    max_new_emi: Decimal
    max_amount: Decimal
    max_amount_tenure: int


@fast_init
@dataclass(frozen=True, slots=True)
class RiskAssessment:
    """Rates are fractions per year."""

    risk_score: float
    probability_of_default: float
    risk_band: str
    band: RiskBand | None
    break_even_roi: float
    base_roi: float
    min_roi: float
    max_roi: float
    reason_codes: tuple[ReasonCode, ...]
    recommendations: tuple[str, ...]
    affordability: Affordability
    score_detail: ScoreResult

    @property
    def risk_range(self) -> float:
        return self.max_roi - self.min_roi

    @property
    def priceable(self) -> bool:
        return self.band is not None and self.min_roi <= self.max_roi


def _scorecard_reasons(result: ScoreResult) -> tuple[ReasonCode, ...]:
    return tuple(
        ReasonCode(a.attribute.reason_code, f"{a.attribute.description} ({a.bin_label})")
        for a in result.by_points_lost()[:MAX_REASON_CODES]
    )


def max_loan_amount(policy: PricingPolicy, band: RiskBand | None, credit: CreditProfile) -> Decimal:
    """The policy's ceiling for this applicant before affordability."""
    ceilings = [policy.amounts.maximum, credit.monthly_income * policy.amounts.max_income_multiple]
    if band is not None:
        ceilings.append(band.max_amount)
    return min(ceilings)


def floor_to_step(amount: Decimal, step: Decimal) -> Decimal:
    return (amount / step).to_integral_value(rounding=ROUND_FLOOR) * step


def floor_float_to_step(value: float, step: Decimal) -> Decimal:
    """``floor_to_step(Decimal(repr(value)), step)``, without turning the float into a string
    (the shortest repr costs more than everything else here). The float quotient decides
    whenever it is more than 1e-6 from a whole number of steps - far more than the float
    errors involved (under 1e-7 below 1e9 steps); otherwise the decimal way does."""
    step_float = _whole_step_float(step)
    if step_float is not None:
        quotient = value / step_float
        if abs(quotient) < 1e9:
            steps = math.floor(quotient)
            if 1e-6 < quotient - steps < 1 - 1e-6:
                return Decimal(steps) * step
    return floor_to_step(Decimal(repr(value)), step)


@lru_cache(maxsize=64, typed=True)
def _whole_step_float(step: Decimal) -> float | None:
    """``float(step)`` for a positive whole step, else None: the same few policy steps for
    every call."""
    return float(step) if step == step.to_integral_value() and step > 0 else None


@lru_cache(maxsize=64, typed=True)
def _cap_decimal(cap: float) -> Decimal:
    """``Decimal(str(cap))`` of a FOIR cap: the policy has a handful."""
    return Decimal(str(cap))


def affordability(policy: PricingPolicy, credit: CreditProfile, band: RiskBand | None,
                  max_roi: float, max_tenure: int) -> Affordability:
    """Largest EMI and amount the FOIR cap allows, priced at the band's ceiling (conservative:
    the EMI at any offered rate is then within the allowance)."""
    cap = policy.foir_cap_for(credit.monthly_income)
    allowance = max(Decimal(0), credit.monthly_income * _cap_decimal(cap) - credit.existing_emi)
    allowance = allowance.quantize(Decimal("0.01"), rounding=ROUND_FLOOR)
    raw = float(allowance) * annuity_factor(max_roi, max_tenure)
    amount = min(floor_float_to_step(raw, policy.amounts.step),
                 max_loan_amount(policy, band, credit))
    return Affordability(cap, allowance, max(amount, Decimal(0)), max_tenure)


def _recommendations(policy: PricingPolicy, result: ScoreResult, afford: Affordability,
                     band: RiskBand | None, min_roi: float, max_roi: float) -> tuple[str, ...]:
    notes = []
    if band is not None and min_roi <= max_roi:
        notes.append(f"Risk band {band.name}: price between {min_roi * 100:.2f}% and "
                     f"{max_roi * 100:.2f}% a year")
    if afford.max_amount >= policy.amounts.minimum:
        notes.append(f"Maximum affordable amount INR {afford.max_amount:,.0f} over "
                     f"{afford.max_amount_tenure} months (EMI up to INR {afford.max_new_emi:,.2f} "
                     f"within the {afford.foir_cap:.0%} FOIR cap)")
    else:
        notes.append("No repayment capacity left within the FOIR cap for the minimum loan amount")
    notes.extend(a.attribute.recommendation for a in result.by_points_lost()[:2])
    return tuple(notes)


@fast_init
@dataclass(frozen=True, slots=True)
class ScoreRates:
    """What a score alone decides: band, break-even and the ROI band (fractions per year)."""

    band: RiskBand | None
    break_even_roi: float
    min_roi: float
    max_roi: float
    base_roi: float


def score_rates(policy: PricingPolicy, score: float, pd: float) -> ScoreRates:
    """The ROI band for a score (shared by the scalar engine and the batch simulation)."""
    band = policy.band_for(score)
    econ, rates = policy.economics, policy.rates
    r0 = one_period_break_even(pd, econ.loss_given_default, econ.cost_of_funds, econ.opex)
    ceiling = band.max_roi if band is not None else rates.regulatory_cap
    max_roi = min(ceiling, rates.regulatory_cap)
    min_roi = max(rates.floor, r0 + econ.min_margin)
    target = band.target_margin if band is not None else policy.bands[-1].target_margin
    base_roi = min(max(r0 + target, min_roi), max_roi)
    return ScoreRates(band, r0, min_roi, max_roi, base_roi)


def assess_risk(policy: PricingPolicy, credit: CreditProfile, max_tenure: int) -> RiskAssessment:
    """Score, band and ROI band for ``credit``; ``max_tenure`` is the longest eligible tenure."""
    result = score_applicant(policy.scorecard, credit)
    pd = result.probability_of_default
    rated = score_rates(policy, result.score, pd)
    band, r0, min_roi, max_roi, base_roi = (rated.band, rated.break_even_roi, rated.min_roi,
                                            rated.max_roi, rated.base_roi)
    afford = affordability(policy, credit, band, max_roi, max_tenure)
    return RiskAssessment(  # positional, in field order (it runs for every applicant)
        result.score,                                                 # risk_score
        pd,                                                           # probability_of_default
        band.name if band is not None else OUT_OF_POLICY_BAND,        # risk_band
        band,                                                         # band
        r0,                                                           # break_even_roi
        base_roi,                                                     # base_roi
        min_roi,                                                      # min_roi
        max_roi,                                                      # max_roi
        _scorecard_reasons(result),                                   # reason_codes
        _recommendations(policy, result, afford, band, min_roi, max_roi),  # recommendations
        afford,                                                       # affordability
        result,                                                       # score_detail
    )
