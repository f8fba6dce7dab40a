"""GraphQL types of the public contract (../shared/docs/api-contract.md), built from domain objects.

Units: money in INR rounded to 2 decimals; rates in percent per year; probabilities 0..1.
The domain keeps rates as fractions; conversion to percent happens only here.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from enum import Enum

import strawberry

from domain.behavior.analysis import BehaviorAnalysis as DomainBehavior
from domain.offers import LoanOffer as DomainOffer
from domain.offers import OfferSet
from domain.reasons import ReasonCode as DomainReason
from domain.risk.assessment import RiskAssessment as DomainRisk
from graphql_api.plain_inputs import plain_input

CENT = Decimal("0.01")


def money(value: Decimal) -> float:
    return float(value.quantize(CENT))


def percent(fraction: float, places: int = 4) -> float:
    return round(fraction * 100.0, places)


@strawberry.enum(description="APPROVED: the request can be met as asked; COUNTER_OFFER: only "
                             "adjusted terms can; DECLINED: no offer (see reasons).")
class OfferDecision(Enum):
    APPROVED = "APPROVED"
    COUNTER_OFFER = "COUNTER_OFFER"
    DECLINED = "DECLINED"


@strawberry.enum(description="ACTIVE until answered or closed; every other status is final. "
                             "REPRICED: replaced by an offer priced under a newer policy version "
                             "(see replacedBy); WITHDRAWN: taken back without a successor.")
class OfferStatus(Enum):
    ACTIVE = "ACTIVE"
    ACCEPTED = "ACCEPTED"
    DECLINED = "DECLINED"
    EXPIRED = "EXPIRED"
    WITHDRAWN = "WITHDRAWN"
    REPRICED = "REPRICED"


@strawberry.enum
class PriceSensitivity(Enum):
    LOW = "LOW"
    MEDIUM = "MEDIUM"
    HIGH = "HIGH"


@plain_input  # built without Strawberry's per-field conversion (plain_inputs.py)
@strawberry.input(description="What the customer asks for; omit both for the full offer grid.")
class LoanOfferRequest:
    user_id: strawberry.ID
    requested_amount: float | None = strawberry.field(
        default=None, description="INR; within the policy's amount limits")
    requested_tenure: int | None = strawberry.field(
        default=None, description="Months; within the policy's tenure limits")


@strawberry.type
class ReasonCode:
    code: str
    description: str

    @classmethod
    def of(cls, r: DomainReason) -> ReasonCode:
        return cls(code=r.code, description=r.description)


@strawberry.type(description="rho(r) = 1/(1+exp(intercept + slope*r)), r a fraction per year")
class PriceResponse:
    intercept: float
    slope: float


@strawberry.type
class RoiAdjustment:
    rule: str
    delta_bps: float
    reason: str


@strawberry.type
class OfferExplanation:
    summary: str = strawberry.field(description="One human sentence")
    break_even_roi: float = strawberry.field(description="r0, percent per year")
    unconstrained_optimal_roi: float = strawberry.field(
        description="r* before the band and rules, percent per year")
    price_response: PriceResponse
    adjustments: list[RoiAdjustment] = strawberry.field(
        description="Every rule that moved the ROI, in order")
    binding_constraints: list[str]
    fallback_applied: str | None


@strawberry.type(description="One priced, ranked offer with what its Key Facts Statement needs")
class LoanOffer:
    offer_id: strawberry.ID
    user_id: strawberry.ID
    roi: float = strawberry.field(description="Percent per year")
    amount: float = strawberry.field(description="INR")
    tenure: int = strawberry.field(description="Months")
    processing_fee: float = strawberry.field(description="INR, before GST")
    gst_on_fee: float = strawberry.field(description="INR")
    net_disbursal: float = strawberry.field(description="INR credited: amount - fee - GST")
    rank: int
    conversion_probability: float
    risk_impact: float = strawberry.field(
        description="Percent per year of the rate that pays for expected credit loss")
    emi: float
    apr: float = strawberry.field(description="RBI Key Facts Statement APR, percent per year")
    total_interest: float
    total_payable: float
    expected_profit: float = strawberry.field(description="Expected NPV to the lender, INR")
    valid_until: datetime
    created_at: datetime
    status: OfferStatus
    policy_version: int
    explanation: OfferExplanation
    replaced_by: strawberry.ID | None = strawberry.field(
        default=None, description="REPRICED offers: the offer that replaced this one")

    @classmethod
    def of(cls, o: DomainOffer) -> LoanOffer:
        e = o.explanation
        return cls(
            offer_id=strawberry.ID(o.offer_id), user_id=strawberry.ID(o.user_id),
            roi=float(o.roi), amount=money(o.amount), tenure=o.tenure,
            processing_fee=money(o.processing_fee), gst_on_fee=money(o.gst_on_fee),
            net_disbursal=money(o.net_disbursal), rank=o.rank,
            conversion_probability=round(o.conversion_probability, 6),
            risk_impact=round(o.risk_impact, 4), emi=money(o.emi), apr=float(o.apr),
            total_interest=money(o.total_interest), total_payable=money(o.total_payable),
            expected_profit=money(o.expected_profit), valid_until=o.valid_until,
            created_at=o.created_at, status=OfferStatus(o.status.value),
            policy_version=o.policy_version,
            explanation=OfferExplanation(
                summary=e.summary,
                break_even_roi=percent(e.break_even_roi),
                unconstrained_optimal_roi=percent(e.unconstrained_optimal_roi),
                price_response=PriceResponse(intercept=e.price_response.intercept,
                                             slope=e.price_response.slope),
                adjustments=[RoiAdjustment(rule=a.rule, delta_bps=round(a.delta_bps, 4),
                                           reason=a.reason) for a in e.adjustments],
                binding_constraints=list(e.binding_constraints),
                fallback_applied=e.fallback_applied,
            ),
            replaced_by=None if o.replaced_by is None else strawberry.ID(o.replaced_by),
        )


@strawberry.type
class RiskAssessment:
    risk_score: float
    probability_of_default: float
    risk_band: str
    base_roi: float
    min_roi: float
    max_roi: float
    risk_range: float = strawberry.field(description="maxRoi - minRoi, percentage points")
    break_even_roi: float
    reason_codes: list[ReasonCode] = strawberry.field(description="At most 4, by impact")
    recommendations: list[str]
    max_affordable_emi: float
    max_affordable_amount: float

    @classmethod
    def of(cls, r: DomainRisk) -> RiskAssessment:
        return cls(
            risk_score=round(r.risk_score, 2),
            probability_of_default=round(r.probability_of_default, 6),
            risk_band=r.risk_band, base_roi=percent(r.base_roi), min_roi=percent(r.min_roi),
            max_roi=percent(r.max_roi), risk_range=percent(r.risk_range),
            break_even_roi=percent(r.break_even_roi),
            reason_codes=[ReasonCode.of(c) for c in r.reason_codes],
            recommendations=list(r.recommendations),
            max_affordable_emi=money(r.affordability.max_new_emi),
            max_affordable_amount=money(r.affordability.max_amount),
        )


@strawberry.type
class BehaviorAnalysis:
    price_sensitivity: PriceSensitivity
    sensitivity_score: float
    conversion_probability: float = strawberry.field(
        description="Take-up probability at the risk assessment's base ROI")
    long_term_value: float = strawberry.field(description="INR, discounted")
    repeat_probability: float

    @classmethod
    def of(cls, b: DomainBehavior) -> BehaviorAnalysis:
        return cls(
            price_sensitivity=PriceSensitivity(b.price_sensitivity.value),
            sensitivity_score=round(b.sensitivity_score, 4),
            conversion_probability=round(b.conversion_probability, 6),
            long_term_value=money(b.long_term_value),
            repeat_probability=round(b.repeat_probability, 6),
        )


@strawberry.type
class LoanOfferResponse:
    user_id: strawberry.ID
    decision: OfferDecision
    offers: list[LoanOffer] = strawberry.field(description="Ranked, rank 1 first")
    reasons: list[ReasonCode] = strawberry.field(description="Why declined or countered, at most 4")
    risk: RiskAssessment
    behavior: BehaviorAnalysis
    policy_version: int
    generated_at: datetime

    @classmethod
    def of(cls, s: OfferSet) -> LoanOfferResponse:
        return cls(
            user_id=strawberry.ID(s.user_id), decision=OfferDecision(s.decision.value),
            offers=[LoanOffer.of(o) for o in s.offers],
            reasons=[ReasonCode.of(r) for r in s.reasons], risk=RiskAssessment.of(s.risk),
            behavior=BehaviorAnalysis.of(s.behavior), policy_version=s.policy_version,
            generated_at=s.generated_at,
        )
