"""Invariants every offer set must satisfy, over random applicants (hypothesis) and the first
500 demo applicants, with and without a request.

An offer's ROI is a ``Decimal`` percent; the risk assessment's rates are fractions.
"""

from __future__ import annotations

from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from itertools import pairwise

import pytest
from hypothesis import HealthCheck, event, given, settings

from domain.applicant import Applicant, LoanRequest
from domain.finance.calendar import add_working_days
from domain.finance.key_facts import compute_key_facts
from domain.finance.money import to_paise, to_rupees
from domain.offer_engine import generate_offer_set
from domain.offers import OfferDecision, OfferSet
from domain.optimization.price_response import optimal_rate
from domain.policy.model import PricingPolicy
from domain.reasons import MAX_REASON_CODES
from domain.risk.eligibility import max_eligible_tenure
from tests.strategies import applicants, loan_requests

BP = 1e-4
EPS = 1e-9


def expected_fee(policy: PricingPolicy, offer_set: OfferSet, applicant: Applicant,
                 amount: Decimal) -> Decimal:
    """Band percentage of the amount within [min, max], less the best waiver, to the rupee."""
    band = offer_set.risk.band
    assert band is not None
    fees = policy.fees
    fee = min(max(amount * band.fee_percent / 100, fees.minimum), fees.maximum)
    waivers = [w.waiver_percent for w in fees.waivers
               if applicant.behavior.loans_repaid >= w.min_loans_repaid]
    fee = fee * (100 - max(waivers, default=Decimal(0))) / 100
    return fee.quantize(Decimal("1"), rounding=ROUND_HALF_UP)


def meets(offer, request: LoanRequest) -> bool:
    return ((request.requested_amount is None or offer.amount == request.requested_amount)
            and (request.requested_tenure is None or offer.tenure == request.requested_tenure))


def check_offer_set(policy: PricingPolicy, applicant: Applicant, request: LoanRequest,
                    result: OfferSet, now: datetime) -> None:
    """Assert every documented invariant of ``result``; returns quietly when all hold."""
    risk = result.risk
    step = policy.rates.rounding_step_bps
    assert result.user_id == applicant.user_id
    assert result.policy_version == policy.version
    assert result.generated_at == now
    assert len(result.reasons) <= MAX_REASON_CODES
    assert len({r.code for r in result.reasons}) == len(result.reasons)

    if result.decision is OfferDecision.DECLINED:
        assert result.offers == ()
        assert 1 <= len(result.reasons) <= MAX_REASON_CODES
        return

    offers = result.offers
    assert 1 <= len(offers) <= policy.ranking.max_offers
    assert [o.rank for o in offers] == list(range(1, len(offers) + 1))
    assert len({(o.amount, o.tenure) for o in offers}) == len(offers)
    objectives = [o.objective for o in offers]
    assert all(a >= b - 1e-6 for a, b in pairwise(objectives))
    max_tenure = max_eligible_tenure(policy, applicant.age_on(now.date()))
    allowance = risk.affordability.max_new_emi

    if result.decision is OfferDecision.COUNTER_OFFER:
        assert result.reasons, "a counter-offer says why the request was not met"
        assert all(o.explanation.fallback_applied is not None for o in offers)
    else:
        assert result.reasons == ()
        assert all(o.explanation.fallback_applied is None for o in offers)
        if request.requested_amount is not None or request.requested_tenure is not None:
            assert any(meets(o, request) for o in offers), "APPROVED must meet the request"

    for o in offers:
        ex = o.explanation
        roi = float(o.roi) / 100
        roi_bps = o.roi * 100
        # the rate: inside the band, on the rounding step, above break-even + minimum margin
        assert risk.min_roi - EPS <= roi <= risk.max_roi + EPS, (o.roi, risk.min_roi, risk.max_roi)
        assert roi_bps == roi_bps.to_integral_value() and int(roi_bps) % step == 0, o.roi
        assert roi >= ex.break_even_roi + policy.economics.min_margin - EPS
        # roi = clamp(r*, minRoi, maxRoi) + sum(adjustments), up to the rounding step
        banded = min(max(ex.unconstrained_optimal_roi, risk.min_roi), risk.max_roi)
        total_bps = sum(a.delta_bps for a in ex.adjustments)
        assert abs(roi - (banded + total_bps * BP)) <= step * BP + EPS, (o.roi, banded, total_bps)
        assert ex.unconstrained_optimal_roi == pytest.approx(
            float(optimal_rate(ex.break_even_roi, ex.price_response.intercept,
                               ex.price_response.slope)), abs=BP)
        # take-up is the offer's own curve at the offered rate
        assert o.conversion_probability == pytest.approx(ex.price_response.take_up(roi),
                                                         rel=1e-9, abs=1e-12)
        assert 0.0 < o.conversion_probability < 1.0
        # the loan: within policy and eligibility limits, EMI within the FOIR allowance
        assert policy.amounts.minimum <= o.amount <= policy.amounts.maximum
        assert policy.tenures.minimum <= o.tenure <= max_tenure
        assert o.emi <= allowance, (o.emi, allowance)
        income = applicant.credit.monthly_income
        assert (applicant.credit.existing_emi + o.emi) / income <= Decimal(
            repr(risk.affordability.foir_cap)) + Decimal("1e-9")
        # money: the fee rule, and the key facts recomputed from the offer's own terms
        assert o.processing_fee == expected_fee(policy, result, applicant, o.amount)
        facts = compute_key_facts(to_paise(o.amount), o.roi, o.tenure,
                                  to_paise(o.processing_fee), policy.fees.gst_rate_percent)
        assert o.emi == to_rupees(facts.emi)
        assert o.apr == facts.apr_percent
        assert o.gst_on_fee == to_rupees(facts.gst_on_fee)
        assert o.net_disbursal == to_rupees(facts.net_disbursal)
        assert o.total_interest == to_rupees(facts.total_interest)
        assert o.total_payable == to_rupees(facts.total_payable)
        if o.processing_fee > 0:
            assert o.apr > o.roi, (o.apr, o.roi)
        assert o.expected_profit >= policy.economics.min_expected_profit
        # the KFS: validity, identity, provenance
        assert o.user_id == applicant.user_id
        assert o.policy_version == policy.version
        assert o.created_at == now
        assert o.valid_until == add_working_days(now, policy.validity_working_days)
        assert o.inputs_hash and o.inputs_hash == offers[0].inputs_hash


def run_and_check(policy, applicant, request, now, ids) -> OfferSet:
    result = generate_offer_set(policy, applicant, request, now, ids())
    check_offer_set(policy, applicant, request, result, now)
    return result


def demo_request(index: int, applicant: Applicant) -> LoanRequest:
    """A deterministic spread of requests: small to far too large, grid and off-grid tenures."""
    income = applicant.credit.monthly_income
    multiple = (2, 6, 12, 20, 40)[index % 5]
    amount = min(max(income * multiple, Decimal(50_000)), Decimal(4_000_000))
    amount = amount.quantize(Decimal("1000"))
    tenure = (None, 12, 24, 36, 48, 60, 30)[index % 7]
    if index % 11 == 0:
        return LoanRequest(None, tenure or 36)
    return LoanRequest(amount, tenure)


def test_demo_applicants_without_a_request(policy, now, new_ids, demo_applicants):
    decisions = {d: 0 for d in OfferDecision}
    for applicant in demo_applicants:
        result = run_and_check(policy, applicant, LoanRequest(), now, new_ids)
        decisions[result.decision] += 1
    # a realistic book: mostly approved without a request; never a counter-offer
    assert decisions[OfferDecision.COUNTER_OFFER] == 0
    assert decisions[OfferDecision.APPROVED] > 0.7 * len(demo_applicants)
    assert decisions[OfferDecision.DECLINED] > 0


def test_demo_applicants_with_requests(policy, now, new_ids, demo_applicants):
    decisions = {d: 0 for d in OfferDecision}
    for index, applicant in enumerate(demo_applicants):
        result = run_and_check(policy, applicant, demo_request(index, applicant), now, new_ids)
        decisions[result.decision] += 1
    assert all(count > 0 for count in decisions.values()), decisions


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(applicants(), loan_requests())
def test_random_applicants_and_requests(policy, now, new_ids, applicant, request):
    result = run_and_check(policy, applicant, request, now, new_ids)
    event(f"{result.decision.value}")


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(applicants(min_age=21, max_age=50))
def test_random_applicants_over_the_full_grid(policy, now, new_ids, applicant):
    result = run_and_check(policy, applicant, LoanRequest(), now, new_ids)
    assert result.decision is not OfferDecision.COUNTER_OFFER
