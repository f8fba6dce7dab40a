"""Fair lending (pricing-science section 5): protected attributes never change an offer.

Gender, marital status, religion and caste are varied alone; everything else, including the
offer-id sequence, stays fixed, so the whole offer set must compare equal.
"""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from domain.applicant import LoanRequest, ProtectedAttributes
from domain.offer_engine import generate_offer_set, inputs_hash
from domain.offers import OfferDecision, OfferSet
from tests.strategies import (
    CASTES,
    GENDERS,
    MARITAL_STATUSES,
    RELIGIONS,
    applicants,
    loan_requests,
    protected_attributes,
)

#: Profiles that differ in every protected attribute (and one with none stated).
VARIANTS = (
    ProtectedAttributes("MALE", "MARRIED", "HINDU", "GENERAL"),
    ProtectedAttributes("FEMALE", "SINGLE", "MUSLIM", "SC"),
    ProtectedAttributes("OTHER", "DIVORCED", "CHRISTIAN", "ST"),
    ProtectedAttributes("FEMALE", "WIDOWED", "SIKH", "OBC"),
    ProtectedAttributes(None, None, None, None),
)


def projection(result: OfferSet) -> tuple:
    """What a customer sees: decision, reasons and every offer's terms."""
    return (
        result.decision,
        tuple(r.code for r in result.reasons),
        tuple((o.rank, o.amount, o.tenure, o.roi, o.processing_fee, o.gst_on_fee, o.emi, o.apr,
               o.offer_id, o.explanation.fallback_applied,
               tuple(a.rule for a in o.explanation.adjustments))
              for o in result.offers),
    )


def assert_same_offers(policy, now, new_ids, applicant, request, variants) -> OfferSet:
    baseline = generate_offer_set(policy, applicant, request, now, new_ids())
    for protected in variants:
        other = replace(applicant, protected=protected)
        result = generate_offer_set(policy, other, request, now, new_ids())
        assert projection(result) == projection(baseline), protected
        assert result == baseline, protected
        assert inputs_hash(other, request, policy.version, 35) == inputs_hash(
            applicant, request, policy.version, 35)
        assert result.inputs_hash == baseline.inputs_hash
    return baseline


def test_protected_attributes_never_change_offers_for_demo_applicants(
        policy, now, new_ids, demo_applicants):
    decisions = set()
    for index, applicant in enumerate(demo_applicants[:300]):
        request = (LoanRequest() if index % 2 == 0
                   else LoanRequest(applicant.credit.monthly_income * 10, (24, 36, 60)[index % 3]))
        request = (request if request.requested_amount is None
                   or Decimal(50_000) <= request.requested_amount <= Decimal(4_000_000)
                   else LoanRequest())
        decisions.add(assert_same_offers(policy, now, new_ids, applicant, request,
                                         VARIANTS).decision)
    assert decisions == set(OfferDecision)


def test_every_single_protected_attribute_alone(policy, now, new_ids, applicant_builder):
    applicant = applicant_builder()
    base = ProtectedAttributes("MALE", "MARRIED", "HINDU", "GENERAL")
    variants = (
        [replace(base, gender=g) for g in GENDERS]
        + [replace(base, marital_status=m) for m in MARITAL_STATUSES]
        + [replace(base, religion=r) for r in RELIGIONS]
        + [replace(base, caste=c) for c in CASTES]
    )
    result = assert_same_offers(policy, now, new_ids, replace(applicant, protected=base),
                                LoanRequest(), variants)
    assert result.decision is OfferDecision.APPROVED


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(applicants(), loan_requests(), st.lists(protected_attributes(), min_size=1, max_size=3))
def test_protected_attributes_never_change_offers_for_random_applicants(
        policy, now, new_ids, applicant, request, variants):
    assert_same_offers(policy, now, new_ids, applicant, request, variants)


def test_age_changes_eligibility_never_the_price(policy, now, new_ids, applicant_builder):
    # 25 and 45 are both eligible for every tenure: the offer sets must be identical
    young = generate_offer_set(policy, applicant_builder(age=25), LoanRequest(), now, new_ids())
    older = generate_offer_set(policy, applicant_builder(age=45), LoanRequest(), now, new_ids())
    assert young.offers and young.inputs_hash != older.inputs_hash  # age is an input...

    def priced(s: OfferSet) -> OfferSet:  # ...that must not move the price
        return replace(s, inputs_hash="", offers=tuple(replace(o, inputs_hash="") for o in s.offers))

    assert priced(young) == priced(older)
