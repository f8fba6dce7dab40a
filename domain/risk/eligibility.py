"""Decline rules and eligibility limits (policy ``[decline]``).

Age is an eligibility rule only: it limits the tenure (age at maturity) and sets a minimum age;
it never enters the price.
"""

from __future__ import annotations

from domain.applicant import CreditProfile
from domain.policy.model import PricingPolicy
from domain.reasons import ReasonCode
from domain.risk.assessment import RiskAssessment


def eligible_tenures(policy: PricingPolicy, age_years: int) -> tuple[int, ...]:
    """Grid tenures that end before the maximum age at maturity."""
    months_left = (policy.decline.max_age_at_maturity - age_years) * 12
    return tuple(t for t in policy.tenures.grid if t <= months_left)


def max_eligible_tenure(policy: PricingPolicy, age_years: int) -> int:
    months_left = (policy.decline.max_age_at_maturity - age_years) * 12
    return max(0, min(policy.tenures.maximum, months_left))


def decline_reasons(policy: PricingPolicy, credit: CreditProfile, risk: RiskAssessment,
                    age_years: int) -> tuple[ReasonCode, ...]:
    """Hard-rule failures, most fundamental first; empty when the applicant may be priced."""
    rules = policy.decline
    reasons: list[ReasonCode] = []
    if age_years < rules.min_age or max_eligible_tenure(policy, age_years) < policy.tenures.minimum:
        reasons.append(ReasonCode(
            "AGE_OUTSIDE_POLICY",
            f"Age must be at least {rules.min_age} and at most {rules.max_age_at_maturity} "
            f"at the end of a {policy.tenures.minimum}-month loan"))
    if credit.monthly_income < rules.min_monthly_income:
        reasons.append(ReasonCode(
            "INCOME_BELOW_MINIMUM",
            f"Net monthly income below INR {rules.min_monthly_income:,.0f}"))
    if rules.decline_on_write_off and credit.has_write_off:
        reasons.append(ReasonCode("WRITTEN_OFF_ACCOUNT", "A past loan was written off or settled"))
    if credit.bureau_score is not None and credit.bureau_score < rules.min_bureau_score:
        reasons.append(ReasonCode(
            "BUREAU_SCORE_BELOW_MINIMUM",
            f"Credit bureau score below {rules.min_bureau_score}"))
    if credit.delinquencies_24m > rules.max_delinquencies_24m:
        reasons.append(ReasonCode(
            "TOO_MANY_DELINQUENCIES",
            f"More than {rules.max_delinquencies_24m} late payments in the last 24 months"))
    if risk.risk_score < rules.min_score or risk.band is None:
        reasons.append(ReasonCode("SCORE_BELOW_CUTOFF", "Overall credit assessment below our cut-off"))
    elif risk.min_roi > risk.max_roi:
        reasons.append(ReasonCode(
            "PRICE_ABOVE_CAP", "The rate this risk requires exceeds our maximum rate"))
    if risk.affordability.max_amount < policy.amounts.minimum:
        reasons.append(ReasonCode(
            "NO_REPAYMENT_CAPACITY",
            f"Existing EMIs leave no room for the minimum loan of INR {policy.amounts.minimum:,.0f}"))
    return tuple(reasons)
