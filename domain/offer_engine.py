"""The offer engine: one applicant in, one ranked, explained decision out. Pure and deterministic.

Flow (the seed's component interaction, inside one process):
eligibility -> risk assessment -> behaviour analysis -> candidates -> pricing (optimisation)
-> fallbacks when the request cannot be met -> ranking -> Key Facts of the chosen offers.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from domain.applicant import Applicant, LoanRequest
from domain.behavior.analysis import analyse_behavior
from domain.behavior.history import NO_HISTORY, OfferHistorySummary
from domain.canonical_text import dataclass_repr
from domain.finance.calendar import add_working_days
from domain.finance.key_facts import compute_key_figures
from domain.finance.money import float_to_cents, to_paise, to_rupees
from domain.offers import (
    LoanOffer,
    OfferDecision,
    OfferExplanation,
    OfferSet,
    OfferStatus,
    RoiAdjustment,
)
from domain.optimization.candidates import (
    Candidate,
    CandidateSpace,
    fallback_candidates,
    grid_candidates,
    meets_request,
    requested_candidates,
)
from domain.optimization.price_response import PriceResponseCurve
from domain.optimization.pricing import ApplicantContext, PricedFamily, price_family
from domain.policy.model import PricingPolicy
from domain.ranking.ranker import RankedPick, rank_candidates
from domain.reasons import ReasonCode, top_reasons
from domain.risk.assessment import assess_risk, max_loan_amount
from domain.risk.eligibility import decline_reasons, eligible_tenures, max_eligible_tenure
from domain.slotted import fast_init

_CENT = Decimal("0.01")


class InvalidLoanRequest(ValueError):
    """The request itself is malformed or outside the policy's limits (not a credit decision)."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        super().__init__(message)


def validate_request(policy: PricingPolicy, request: LoanRequest) -> None:
    amount, tenure = request.requested_amount, request.requested_tenure
    limits = policy.amounts
    if amount is not None:
        if not amount.is_finite() or amount <= 0:
            raise InvalidLoanRequest("requestedAmount", "requestedAmount must be a positive amount")
        if amount != amount.quantize(_CENT):
            raise InvalidLoanRequest("requestedAmount", "requestedAmount has more than 2 decimals")
        if not limits.minimum <= amount <= limits.maximum:
            raise InvalidLoanRequest(
                "requestedAmount",
                f"requestedAmount must be between INR {limits.minimum:,.0f} and "
                f"INR {limits.maximum:,.0f}")
    if tenure is not None and not policy.tenures.minimum <= tenure <= policy.tenures.maximum:
        raise InvalidLoanRequest(
            "requestedTenure",
            f"requestedTenure must be between {policy.tenures.minimum} and "
            f"{policy.tenures.maximum} months")


def inputs_hash(applicant: Applicant, request: LoanRequest, policy_version: int,
                age: int, history: OfferHistorySummary = NO_HISTORY) -> str:
    """SHA-256 over everything that can change the answer (no PII, no protected attributes).

    Age (not the date of birth) is included: it decides eligibility and the longest tenure;
    so is the offer history (it moves the price sensitivity).
    """
    # Frozen dataclass reprs list every field in declaration order: a stable canonical form
    # (dataclass_repr: the same text, for less).
    text = (f"{dataclass_repr(applicant.credit)}|{dataclass_repr(applicant.behavior)}"
            f"|{dataclass_repr(request)}|age={age}|policy={policy_version}")
    if history != NO_HISTORY:  # keeps the hashes of history-less answers as they were
        # Every repeat customer's answer has a history (its first answer makes one): the same
        # text as repr's, for half the time (1.06 to 0.49 us without an acceptance).
        text += f"|history={dataclass_repr(history)}"
    return hashlib.sha256(text.encode()).hexdigest()


@fast_init
@dataclass(frozen=True, slots=True)
class _Run:
    policy: PricingPolicy
    applicant: Applicant
    request: LoanRequest
    ctx: ApplicantContext
    space: CandidateSpace
    now: datetime
    new_id: Callable[[], str]
    hash: str
    valid_until: datetime


def generate_offer_set(policy: PricingPolicy, applicant: Applicant, request: LoanRequest,
                       now: datetime, new_id: Callable[[], str],
                       history: OfferHistorySummary = NO_HISTORY) -> OfferSet:
    """Decide and price. ``history`` is the applicant's offer history with us (it feeds the
    behaviour analysis). Raises :class:`InvalidLoanRequest` for a malformed request."""
    validate_request(policy, request)
    age = applicant.age_on(now.date())
    max_tenure = max_eligible_tenure(policy, age)
    risk = assess_risk(policy, applicant.credit, max(max_tenure, policy.tenures.minimum))
    band = risk.band or policy.bands[-1]
    behavior = analyse_behavior(policy, applicant.behavior, band, risk.probability_of_default,
                                risk.base_roi, history, now)

    def answer(decision: OfferDecision, offers: tuple[LoanOffer, ...],
               reasons: tuple[ReasonCode, ...]) -> OfferSet:
        return OfferSet(applicant.user_id, decision, offers, reasons, risk, behavior,
                        policy.version, now, request, digest)

    digest = inputs_hash(applicant, request, policy.version, age, history)
    declines = decline_reasons(policy, applicant.credit, risk, age)
    if declines:
        return answer(OfferDecision.DECLINED, (), top_reasons(declines, risk.reason_codes))

    ctx = ApplicantContext(policy, applicant.credit, applicant.behavior, request, risk, behavior)
    space = CandidateSpace(
        policy=policy, tenures=eligible_tenures(policy, age), max_tenure=max_tenure,
        ceiling=max_loan_amount(policy, risk.band, applicant.credit),
        max_new_emi=risk.affordability.max_new_emi, max_roi=risk.max_roi,
    )
    run = _Run(policy, applicant, request, ctx, space, now, new_id, digest,
               add_working_days(now, policy.validity_working_days))

    if request.requested_amount is None and request.requested_tenure is None:
        grid = grid_candidates(space)
        families = [price_family(ctx, grid)] if grid else []
        return _decide(run, answer, families, OfferDecision.APPROVED, ())

    asked = requested_candidates(space, request)
    family = price_family(ctx, asked) if asked else None
    if family is not None and any(family.feasible[i] and meets_request(c, request)
                                  for i, c in enumerate(family.candidates)):
        return _decide(run, answer, [family], OfferDecision.APPROVED, ())
    fallbacks = fallback_candidates(space, request)
    families = [price_family(ctx, fallbacks)] if fallbacks else []
    return _decide(run, answer, families, OfferDecision.COUNTER_OFFER, _counter_reasons(run))


def _decide(run: _Run, answer: Callable, families: list[PricedFamily], decision: OfferDecision,
            reasons: tuple[ReasonCode, ...]) -> OfferSet:
    picks = rank_candidates([f for f in families if len(f.candidates)],
                            run.policy.ranking.max_offers)
    if not picks:
        no_offer = ReasonCode("NO_VIABLE_OFFER",
                              "No loan fits both your repayment capacity and our pricing limits")
        return answer(OfferDecision.DECLINED, (),
                      top_reasons(reasons, [no_offer], run.ctx.risk.reason_codes))
    offers = tuple(_build_offer(run, pick, rank) for rank, pick in enumerate(picks, start=1))
    return answer(decision, offers, reasons)


def _counter_reasons(run: _Run) -> tuple[ReasonCode, ...]:
    amount, tenure = run.request.requested_amount, run.request.requested_tenure
    space, reasons = run.space, []
    if tenure is not None and tenure > space.max_tenure:
        reasons.append(ReasonCode("TENURE_BEYOND_AGE_LIMIT",
                                  "The requested tenure ends after the maximum age at maturity"))
    if amount is not None and amount > space.ceiling:
        reasons.append(ReasonCode("AMOUNT_ABOVE_LIMIT",
                                  f"The requested amount exceeds the INR {space.ceiling:,.0f} "
                                  "we can lend for this profile"))
    # Both can hold: the ceiling and the FOIR room are separate limits, each worth naming.
    if amount is not None and tenure is not None and space.tenure_allowed(tenure) \
            and amount > space.affordable(tenure) and space.affordable(tenure) < space.ceiling:
        reasons.append(ReasonCode("REPAYMENT_CAPACITY",
                                  "The requested EMI would exceed the share of income that can go "
                                  "to EMIs"))
    if not reasons:
        reasons.append(ReasonCode("REQUEST_NOT_VIABLE",
                                  "The requested terms fall outside our pricing limits"))
    return tuple(reasons)


def _explanation_adjustments(run: _Run, f: PricedFamily, i: int) -> tuple[RoiAdjustment, ...]:
    deltas = f.rule_deltas_bps[:, i].tolist()  # one conversion instead of two per rule
    # A rule moves a row by its own delta or not at all, so its adjustment object is the same
    # in every offer: made once per policy (frozen), rebuilt only for any other delta.
    made = run.policy.derived("rule_adjustments", lambda: tuple(
        RoiAdjustment(r.name, float(r.delta_bps), r.reason) for r in run.policy.adjustments))
    adjustments = [a if delta == a.delta_bps else RoiAdjustment(a.rule, delta, a.reason)
                   for a, delta in zip(made, deltas, strict=True) if delta]
    if f.discount_cap_bps[i] > 0:
        adjustments.append(RoiAdjustment(
            "DISCOUNT_CAP", float(f.discount_cap_bps[i]),
            f"Discounts are capped at {run.policy.rates.max_total_discount_bps} bps in total"))
    if f.value_floor_bps[i] > 1e-9:
        adjustments.append(RoiAdjustment(
            "VALUE_FLOOR", float(f.value_floor_bps[i]),
            "Raised to the minimum rate: break-even plus the minimum margin"))
    if f.cap_bps[i] < -1e-9:
        adjustments.append(RoiAdjustment("MAX_ROI_CAP", float(f.cap_bps[i]),
                                         "Lowered to the maximum rate for the risk band"))
    return tuple(adjustments)


def _binding(run: _Run, f: PricedFamily, i: int, c: Candidate) -> tuple[str, ...]:
    risk, space = run.ctx.risk, run.space
    binding = []
    if f.optimal[i] > risk.max_roi or f.cap_bps[i] < 0:
        binding.append("MAX_ROI_CAP")
    if f.optimal[i] < risk.min_roi:
        binding.append("MIN_ROI_FLOOR")
    if f.value_floor_bps[i] > 1e-9:
        binding.append("MIN_MARGIN")
    if f.discount_cap_bps[i] > 0:
        binding.append("DISCOUNT_CAP")
    affordable = space.affordable(c.tenure)
    if c.amount == affordable and affordable < space.ceiling:
        binding.append("FOIR_LIMIT")
    elif c.amount == space.ceiling:
        binding.append("AMOUNT_LIMIT")
    requested = run.request.requested_tenure
    if requested is not None and requested > space.max_tenure:
        binding.append("TENURE_LIMIT")
    return tuple(binding)


def _summary(run: _Run, c: Candidate, roi: Decimal, emi: Decimal, apr: Decimal,
             adjustments: tuple[RoiAdjustment, ...]) -> str:
    text = (f"INR {c.amount:,.0f} over {c.tenure} months at {roi}% a year: "
            f"EMI INR {emi:,.2f}, APR {apr}% including fees.")
    asked = run.request.requested_amount
    if c.fallback is not None and asked is not None and c.amount < asked:
        text += f" Reduced from the INR {asked:,.0f} you asked for to fit your repayment capacity."
    asked_tenure = run.request.requested_tenure
    if c.fallback is not None and asked_tenure is not None and c.tenure > asked_tenure:
        text += " A longer tenure keeps the EMI within your repayment capacity."
    if c.fallback is not None and asked_tenure is not None and c.tenure < asked_tenure:
        text += " A shorter tenure ends the loan before the maximum age at maturity."
    rule_names = run.policy.derived("adjustment_names",
                                    lambda: frozenset(r.name for r in run.policy.adjustments))
    discounts = [a.reason for a in adjustments if a.delta_bps < 0 and a.rule in rule_names]
    if discounts:
        text += " Includes a discount: " + "; ".join(discounts).lower().replace("inr", "INR") + "."
    return text


def _roi_percent(policy: PricingPolicy, bps: int) -> Decimal:
    """bps -> percent, exactly two places; one Decimal per rate and policy (at most one per
    bps up to the regulatory cap), so its hash - computed on first use, then kept by the
    Decimal - serves every later offer's rate-term and EMI cache lookups."""
    known = policy.derived("roi_percent", dict)
    roi = known.get(bps)
    if roi is None:
        roi = known[bps] = Decimal(bps).scaleb(-2)
    return roi


def _build_offer(run: _Run, pick: RankedPick, rank: int) -> LoanOffer:
    f, i = pick.family, pick.index
    c = f.candidates[i]
    roi = _roi_percent(run.policy, int(f.roi_bps[i]))
    facts = compute_key_figures(to_paise(c.amount), roi, c.tenure, to_paise(f.fee[i]),
                              run.policy.fees.gst_rate_percent)
    emi, apr = to_rupees(facts.emi), facts.apr_percent
    if emi > run.ctx.risk.affordability.max_new_emi:
        raise AssertionError("EMI above the FOIR allowance: candidate filter is inconsistent")
    adjustments = _explanation_adjustments(run, f, i)
    # Both built with positional arguments in field order: matching two dozen keywords to
    # parameters costs ~0.7 us an offer (the golden test pins every field).
    explanation = OfferExplanation(
        _summary(run, c, roi, emi, apr, adjustments),      # summary
        float(f.break_even[i]),                             # break_even_roi
        float(f.optimal[i]),                                # unconstrained_optimal_roi
        PriceResponseCurve(float(f.intercept[i]), float(f.slope)),  # price_response
        adjustments,                                        # adjustments
        _binding(run, f, i, c),                             # binding_constraints
        c.fallback.value if c.fallback is not None else None,  # fallback_applied
    )
    return LoanOffer(
        run.new_id(),                                       # offer_id
        run.applicant.user_id,                              # user_id
        rank,                                               # rank
        c.amount,                                           # amount
        c.tenure,                                           # tenure
        roi,                                                # roi
        to_rupees(facts.processing_fee),                    # processing_fee
        to_rupees(facts.gst_on_fee),                        # gst_on_fee
        to_rupees(facts.net_disbursal),                     # net_disbursal
        emi,                                                # emi
        apr,                                                # apr
        to_rupees(facts.total_interest),                    # total_interest
        to_rupees(facts.total_payable),                     # total_payable
        float(f.conversion[i]),                             # conversion_probability
        float(f.risk_impact[i]),                            # risk_impact
        float_to_cents(float(f.expected_profit[i])),        # expected_profit
        pick.objective,                                     # objective
        explanation,                                        # explanation
        run.policy.version,                                 # policy_version
        run.now,                                            # created_at
        run.valid_until,                                    # valid_until
        OfferStatus.ACTIVE,                                 # status
        run.hash,                                           # inputs_hash
    )
