"""The offer engine end to end: decisions, request validation, determinism, and the optimiser
checked against its own documented objective."""

from __future__ import annotations

from decimal import Decimal

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings

from domain.applicant import EmployerCategory, EmploymentType, LoanRequest, ResidenceType
from domain.behavior.metrics import BehaviorMetrics
from domain.offer_engine import InvalidLoanRequest, generate_offer_set
from domain.offers import Fallback, OfferDecision
from domain.optimization.economics import exposure_factors
from domain.optimization.price_response import optimal_rate, take_up
from domain.reasons import MAX_REASON_CODES
from tests.strategies import applicants, loan_requests, priceable_credit_profiles

BP = 1e-4
FALLBACKS = {f.value for f in Fallback}


@pytest.fixture(scope="module")
def offers_for(policy, now, new_ids):
    def run(applicant, request=None):
        return generate_offer_set(policy, applicant, request or LoanRequest(), now, new_ids())
    return run


@pytest.fixture(scope="module")
def stretched(applicant_builder):
    """Income 40k with 10k of EMIs: FOIR allowance INR 10,000, about 2.8 lakh over 36 months."""
    return applicant_builder(monthly_income=40000, existing_emi=10000)


# --------------------------------------------------------------------------- decisions


def test_request_above_repayment_capacity_gets_labelled_counter_offers(offers_for, stretched):
    request = LoanRequest(Decimal("800000"), 36)
    result = offers_for(stretched, request)
    assert result.decision is OfferDecision.COUNTER_OFFER
    assert [r.code for r in result.reasons] == ["REPAYMENT_CAPACITY"]
    assert result.offers
    for offer in result.offers:
        assert offer.explanation.fallback_applied in FALLBACKS
        assert offer.amount < request.requested_amount
        assert offer.emi <= result.risk.affordability.max_new_emi
    reduced = [o for o in result.offers
               if o.explanation.fallback_applied == Fallback.REDUCED_AMOUNT.value]
    assert [o.tenure for o in reduced] == [36]
    assert "FOIR_LIMIT" in reduced[0].explanation.binding_constraints
    assert "Reduced from the INR 800,000" in reduced[0].explanation.summary


def test_request_above_the_lending_limit_gets_counter_offers(offers_for, stretched):
    # 24 x income = INR 9.6 lakh is this applicant's ceiling
    result = offers_for(stretched, LoanRequest(Decimal("1500000"), 36))
    assert result.decision is OfferDecision.COUNTER_OFFER
    assert result.reasons[0].code == "AMOUNT_ABOVE_LIMIT"
    assert all(o.explanation.fallback_applied in FALLBACKS for o in result.offers)


def test_below_cut_off_applicant_is_declined_with_reasons(offers_for, applicant_builder):
    weak = applicant_builder(
        monthly_income=40000, existing_emi=20000, bureau_score=660, delinquencies_24m=3,
        enquiries_6m=8, credit_history_months=10, employment_type=EmploymentType.SELF_EMPLOYED,
        employer_category=EmployerCategory.UNRATED, months_in_current_job=6,
        credit_utilisation=0.9, residence_type=ResidenceType.RENTED)
    result = offers_for(weak)
    assert result.risk.risk_score == 437
    assert result.decision is OfferDecision.DECLINED
    assert result.offers == ()
    codes = [r.code for r in result.reasons]
    assert 1 <= len(codes) <= MAX_REASON_CODES
    assert codes[0] == "SCORE_BELOW_CUTOFF"
    assert "RECENT_DELINQUENCY" in codes


@pytest.mark.parametrize(("field", "value", "code"), [
    ("bureau_score", 640, "BUREAU_SCORE_BELOW_MINIMUM"),
    ("delinquencies_24m", 4, "TOO_MANY_DELINQUENCIES"),
    ("has_write_off", True, "WRITTEN_OFF_ACCOUNT"),
    ("monthly_income", 14000, "INCOME_BELOW_MINIMUM"),
    ("existing_emi", 60000, "NO_REPAYMENT_CAPACITY"),
])
def test_hard_rules_decline(offers_for, applicant_builder, field, value, code):
    result = offers_for(applicant_builder(**{field: value}))
    assert result.decision is OfferDecision.DECLINED
    assert result.offers == ()
    assert code in [r.code for r in result.reasons]
    assert len(result.reasons) <= MAX_REASON_CODES


def test_request_that_fits_is_approved_with_an_offer_meeting_it(offers_for, stretched):
    request = LoanRequest(Decimal("200000"), 36)
    result = offers_for(stretched, request)
    assert result.decision is OfferDecision.APPROVED
    assert result.reasons == ()
    exact = [o for o in result.offers if (o.amount, o.tenure) == (Decimal("200000"), 36)]
    assert len(exact) == 1
    assert exact[0].explanation.fallback_applied is None


def test_amount_only_request_is_met_at_some_tenure(offers_for, applicant_builder):
    request = LoanRequest(Decimal("350000"), None)
    result = offers_for(applicant_builder(), request)
    assert result.decision is OfferDecision.APPROVED
    assert any(o.amount == Decimal("350000") for o in result.offers)


def test_grid_tenure_only_request_is_met(offers_for, applicant_builder):
    result = offers_for(applicant_builder(), LoanRequest(None, 24))
    assert result.decision is OfferDecision.APPROVED
    assert {o.tenure for o in result.offers} == {24}


def test_off_grid_tenure_only_request_is_met(offers_for, applicant_builder):
    result = offers_for(applicant_builder(), LoanRequest(None, 30))
    assert result.decision is OfferDecision.APPROVED
    assert any(o.tenure == 30 and o.explanation.fallback_applied is None for o in result.offers)


def test_tenure_beyond_the_age_limit_is_countered_within_it(offers_for, applicant_builder):
    result = offers_for(applicant_builder(age=56), LoanRequest(Decimal("500000"), 60))
    assert result.decision is OfferDecision.COUNTER_OFFER
    assert result.reasons[0].code == "TENURE_BEYOND_AGE_LIMIT"
    assert result.offers and all(o.tenure <= 48 for o in result.offers)
    assert all("TENURE_LIMIT" in o.explanation.binding_constraints for o in result.offers)
    assert {o.explanation.fallback_applied for o in result.offers} <= {
        "SHORTER_TENURE", "REDUCED_AMOUNT_SHORTER_TENURE"}
    assert all("shorter tenure" in o.explanation.summary for o in result.offers)


def test_a_shorter_counter_offer_is_not_called_a_longer_tenure(offers_for, applicant_builder):
    request = LoanRequest(Decimal("500000"), 60)
    result = offers_for(applicant_builder(age=56), request)
    for offer in result.offers:
        label = offer.explanation.fallback_applied or ""
        if "EXTENDED_TENURE" in label:
            assert offer.tenure > request.requested_tenure, (label, offer.tenure)
        if "REDUCED_AMOUNT" in label:
            assert offer.amount < request.requested_amount, (label, offer.amount)
        if offer.tenure < request.requested_tenure:
            assert "longer tenure" not in offer.explanation.summary


@pytest.mark.parametrize("request_", [
    LoanRequest(Decimal("-100000"), 36),
    LoanRequest(Decimal("0"), 36),
    LoanRequest(Decimal("4000001"), 36),
    LoanRequest(Decimal("49999"), 36),
    LoanRequest(Decimal("100000.005"), 36),
    LoanRequest(Decimal("NaN"), 36),
    LoanRequest(Decimal("100000"), 0),
    LoanRequest(Decimal("100000"), 999),
    LoanRequest(None, 0),
    LoanRequest(None, 999),
    LoanRequest(None, -12),
], ids=lambda r: f"{r.requested_amount}-{r.requested_tenure}")
def test_invalid_requests_raise(policy, now, new_ids, applicant_builder, request_):
    with pytest.raises(InvalidLoanRequest) as raised:
        generate_offer_set(policy, applicant_builder(), request_, now, new_ids())
    assert raised.value.field in ("requestedAmount", "requestedTenure")


@pytest.mark.parametrize("age", [60, 61, 70, 20, 18])
def test_outside_the_age_rule_is_declined(offers_for, applicant_builder, age):
    result = offers_for(applicant_builder(age=age))
    assert result.decision is OfferDecision.DECLINED
    assert result.reasons[0].code == "AGE_OUTSIDE_POLICY"


def test_age_only_limits_the_tenure(offers_for, applicant_builder):
    # 59: one year left to the maximum age at maturity of 60
    result = offers_for(applicant_builder(age=59))
    assert result.decision is OfferDecision.APPROVED
    assert {o.tenure for o in result.offers} == {12}
    young = offers_for(applicant_builder(age=30))
    same = {(o.amount, o.tenure): o.roi for o in young.offers}
    for offer in result.offers:  # the same loan costs the same at any age
        if (offer.amount, offer.tenure) in same:
            assert offer.roi == same[(offer.amount, offer.tenure)]


def test_thin_file_applicant_is_priced(offers_for, applicant_builder):
    result = offers_for(applicant_builder(bureau_score=None, credit_history_months=3))
    assert result.decision is OfferDecision.APPROVED
    assert result.offers
    bureau = next(a for a in result.risk.score_detail.attributes
                  if a.attribute.name == "bureau_score")
    assert bureau.bin_label == "missing"
    assert 0 < result.risk.probability_of_default < 1


def test_returning_customer_gets_the_discount_and_fee_waiver(offers_for, applicant_builder):
    new = offers_for(applicant_builder(), LoanRequest(Decimal("300000"), 36))
    returning = offers_for(applicant_builder(behavior=BehaviorMetrics(loans_repaid=1)),
                           LoanRequest(Decimal("300000"), 36))

    def exact(result):
        return next(o for o in result.offers if (o.amount, o.tenure) == (Decimal("300000"), 36))

    assert exact(returning).processing_fee == exact(new).processing_fee / 2
    assert "RETURNING_CUSTOMER" in [a.rule for a in exact(returning).explanation.adjustments]


# --------------------------------------------------------------------------- determinism


def test_same_inputs_give_the_same_offer_set(policy, now, new_ids, demo_applicants):
    for index, applicant in enumerate(demo_applicants[:100]):
        request = LoanRequest(Decimal(100_000 * (1 + index % 7)), (None, 24, 36)[index % 3])
        first = generate_offer_set(policy, applicant, request, now, new_ids())
        again = generate_offer_set(policy, applicant, request, now, new_ids())
        assert first == again


# --------------------------------------------------------------------------- the optimiser


def check_optimality(policy, applicant, result) -> None:
    """Rebuild each offer's economics from the policy and the explanation, independently of the
    engine's arrays, and check the unconstrained optimum is the argmax of rho(r) A (r - r0)."""
    econ, risk = policy.economics, result.risk
    for offer in result.offers:
        ex = offer.explanation
        a, b = ex.price_response.intercept, ex.price_response.slope
        exposure = exposure_factors(risk.probability_of_default, [offer.tenure],
                                    risk.break_even_roi, econ.discount_rate)
        fee = float(offer.processing_fee) / float(offer.amount)
        r0 = float(exposure.break_even(econ.loss_given_default, econ.cost_of_funds, econ.opex,
                                       fee)[0])
        assert ex.break_even_roi == pytest.approx(r0, abs=1e-9)
        assert ex.unconstrained_optimal_roi == pytest.approx(float(optimal_rate(r0, a, b)),
                                                             abs=BP)
        big_a = float(exposure.interest_exposure[0]) * float(offer.amount)
        grid = np.arange(r0, r0 + 0.5, 0.1 * BP)
        objective = take_up(grid, a, b) * big_a * (grid - r0)
        best = float(grid[int(np.argmax(objective))])
        assert abs(best - ex.unconstrained_optimal_roi) <= BP, (best, ex.unconstrained_optimal_roi)
        # the offer's expected profit is that objective's margin at the offered rate
        roi = float(offer.roi) / 100
        assert float(offer.expected_profit) == pytest.approx(big_a * (roi - r0), abs=0.01)


def test_optimum_on_demo_applicants(policy, offers_for, demo_applicants):
    checked = 0
    for applicant in demo_applicants[:200]:
        result = offers_for(applicant)
        check_optimality(policy, applicant, result)
        checked += len(result.offers)
    assert checked > 500


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(applicants(credit=priceable_credit_profiles(), min_age=21, max_age=55), loan_requests())
def test_optimum_on_random_applicants(policy, offers_for, applicant, request):
    check_optimality(policy, applicant, offers_for(applicant, request))
