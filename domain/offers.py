"""Offers and decisions: what the engine returns and what is persisted."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import Decimal
from enum import StrEnum

from domain.applicant import LoanRequest
from domain.behavior.analysis import BehaviorAnalysis
from domain.optimization.price_response import PriceResponseCurve
from domain.reasons import ReasonCode
from domain.risk.assessment import RiskAssessment
from domain.slotted import fast_init


class OfferDecision(StrEnum):
    APPROVED = "APPROVED"
    COUNTER_OFFER = "COUNTER_OFFER"
    DECLINED = "DECLINED"


class OfferStatus(StrEnum):
    """ACTIVE is the only state an offer leaves; every other state is final.

    REPRICED: replaced by an offer priced under a newer policy version (``replaced_by``);
    WITHDRAWN: taken back without a successor (another offer accepted, or no longer offerable).
    """

    ACTIVE = "ACTIVE"
    ACCEPTED = "ACCEPTED"
    DECLINED = "DECLINED"
    EXPIRED = "EXPIRED"
    WITHDRAWN = "WITHDRAWN"
    REPRICED = "REPRICED"

    @property
    def is_final(self) -> bool:
        return self is not OfferStatus.ACTIVE


class Fallback(StrEnum):
    """Fallbacks, tried in this order when the request cannot be met as asked."""

    REDUCED_AMOUNT = "REDUCED_AMOUNT"
    EXTENDED_TENURE = "EXTENDED_TENURE"
    REDUCED_AMOUNT_EXTENDED_TENURE = "REDUCED_AMOUNT_EXTENDED_TENURE"
    # Only when the requested tenure would end past the maximum age at maturity.
    SHORTER_TENURE = "SHORTER_TENURE"
    REDUCED_AMOUNT_SHORTER_TENURE = "REDUCED_AMOUNT_SHORTER_TENURE"


@fast_init
@dataclass(frozen=True, slots=True)
class RoiAdjustment:
    rule: str
    delta_bps: float
    reason: str


@fast_init
@dataclass(frozen=True, slots=True)
class OfferExplanation:
    """Rates are fractions per year."""

    summary: str
    break_even_roi: float
    unconstrained_optimal_roi: float
    price_response: PriceResponseCurve
    adjustments: tuple[RoiAdjustment, ...]
    binding_constraints: tuple[str, ...]
    fallback_applied: str | None


@fast_init
@dataclass(frozen=True, slots=True)
class LoanOffer:
    """One priced, ranked offer with what its Key Facts Statement needs (money in INR)."""

    offer_id: str
    user_id: str
    rank: int
    amount: Decimal
    tenure: int
    roi: Decimal                # percent per year, exact (a multiple of the rounding step)
    processing_fee: Decimal     # before GST
    gst_on_fee: Decimal
    net_disbursal: Decimal
    emi: Decimal
    apr: Decimal                # percent per year, RBI KFS
    total_interest: Decimal
    total_payable: Decimal
    conversion_probability: float
    risk_impact: float          # percent per year of the rate that pays for expected loss
    expected_profit: Decimal    # expected NPV to the lender if booked, INR
    objective: float            # ranking value: conversion x (profit + weight x LTV)
    explanation: OfferExplanation
    policy_version: int
    created_at: datetime
    valid_until: datetime
    status: OfferStatus = OfferStatus.ACTIVE
    inputs_hash: str = ""
    replaced_by: str | None = None  # the re-priced successor of a REPRICED offer

    def with_status(self, status: OfferStatus) -> LoanOffer:
        return replace(self, status=status)

    def is_expired_at(self, now: datetime) -> bool:
        return now >= self.valid_until


@fast_init
@dataclass(frozen=True, slots=True)
class OfferSet:
    """The answer to one loan-offer request."""

    user_id: str
    decision: OfferDecision
    offers: tuple[LoanOffer, ...]
    reasons: tuple[ReasonCode, ...]
    risk: RiskAssessment
    behavior: BehaviorAnalysis
    policy_version: int
    generated_at: datetime
    request: LoanRequest = field(default_factory=LoanRequest)
    # SHA-256 of everything that can change the answer (see offer_engine.inputs_hash).
    inputs_hash: str = ""
