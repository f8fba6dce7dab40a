"""Points scorecard: PDO scaling, the PD inverse, hand-scored profiles and reason codes
(pricing-science section 1)."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.applicant import EmployerCategory
from domain.policy.model import Scorecard
from domain.reasons import MAX_REASON_CODES
from domain.risk.assessment import assess_risk
from domain.risk.scorecard import MAX_PD, ScoreScaling, existing_foir, score_applicant
from tests.strategies import credit_profiles


def test_scaling_600_points_at_50_to_1_with_pdo_20():
    scaling = ScoreScaling.of(Scorecard(base_score=600, base_odds=50, pdo=20, base_points=0,
                                        attributes=()))
    assert scaling.factor == pytest.approx(28.8539, abs=5e-5)
    assert scaling.offset == pytest.approx(487.123, abs=5e-4)
    # the anchor: 600 points are odds 50:1, i.e. PD 1/51; PDO 20 doubles the odds
    assert scaling.probability_of_default(600) == pytest.approx(1 / 51, rel=1e-12)
    assert scaling.probability_of_default(620) == pytest.approx(1 / 101, rel=1e-12)
    assert scaling.score_for_odds(100) == pytest.approx(620, abs=1e-9)


def test_default_policy_scorecard_uses_the_documented_scaling(policy):
    scaling = ScoreScaling.of(policy.scorecard)
    assert scaling.factor == pytest.approx(28.8539, abs=5e-5)
    assert scaling.offset == pytest.approx(487.123, abs=5e-4)


@settings(max_examples=200, deadline=None)
@given(st.floats(min_value=1e-4, max_value=1e5))
def test_pd_inverse_round_trip_through_odds(odds_good):
    scaling = ScoreScaling(factor=20 / math.log(2), offset=600 - 20 / math.log(2) * math.log(50))
    score = scaling.score_for_odds(odds_good)
    pd = scaling.probability_of_default(score)
    assert pd == pytest.approx(1 / (1 + odds_good), rel=1e-9)
    assert scaling.score_for_odds((1 - pd) / pd) == pytest.approx(score, abs=1e-6)


@settings(max_examples=100, deadline=None)
@given(st.floats(min_value=200, max_value=900), st.floats(min_value=0.1, max_value=60))
def test_pd_falls_as_the_score_rises(score, delta):
    scaling = ScoreScaling(factor=28.8539, offset=487.123)
    assert scaling.probability_of_default(score + delta) < scaling.probability_of_default(score)


def test_hand_scored_prime_profile(policy, credit_builder):
    credit = credit_builder()
    result = score_applicant(policy.scorecard, credit)
    points = {a.attribute.name: a.points for a in result.attributes}
    assert points == {
        "bureau_score": 110, "foir": 70, "delinquencies_24m": 70, "enquiries_6m": 50,
        "credit_history_months": 40, "employment": 55, "months_in_current_job": 40,
        "monthly_income": 46, "credit_utilisation": 50, "residence_type": 20,
    }
    assert result.score == 651
    assert result.probability_of_default == pytest.approx(
        1 / (1 + math.exp((651 - 487.122876) / 28.853901)), rel=1e-6)
    assert existing_foir(credit) == pytest.approx(5000 / 80000)


def test_bin_edges_are_upper_exclusive(policy, credit_builder):
    def bureau_points(score):
        result = score_applicant(policy.scorecard, credit_builder(bureau_score=score))
        return next(a.points for a in result.attributes if a.attribute.name == "bureau_score")

    assert [bureau_points(s) for s in (649, 650, 699, 700, 749, 750, 799, 800, 900)] == [
        50, 75, 75, 95, 95, 110, 110, 120, 120]


def test_thin_file_scores_missing_points(policy, credit_builder):
    thin = credit_builder(bureau_score=None, credit_history_months=3)
    result = score_applicant(policy.scorecard, thin)
    bureau = next(a for a in result.attributes if a.attribute.name == "bureau_score")
    assert (bureau.bin_label, bureau.points) == ("missing", 90)


def test_a_perfect_profile_has_no_reason_codes(policy, credit_builder):
    perfect = credit_builder(bureau_score=850, existing_emi=0, monthly_income=150000,
                             employer_category=EmployerCategory.CAT_A, credit_history_months=120)
    risk = assess_risk(policy, perfect, 60)
    assert risk.score_detail.by_points_lost() == ()
    assert risk.reason_codes == ()
    assert risk.risk_score == 670  # the scorecard's maximum


def test_reason_codes_for_a_weak_profile_are_the_four_biggest_losses(policy, credit_builder):
    weak = credit_builder(bureau_score=660, delinquencies_24m=2, enquiries_6m=5,
                          credit_utilisation=0.8, existing_emi=40000)
    risk = assess_risk(policy, weak, 60)
    # losses: delinquencies 35, bureau 45, foir 28 (0.5 -> 50-60 % bin), utilisation 20,
    # enquiries 15, employment 5, income 4
    assert [r.code for r in risk.reason_codes] == [
        "BUREAU_SCORE", "RECENT_DELINQUENCY", "HIGH_EXISTING_OBLIGATIONS",
        "HIGH_CREDIT_UTILISATION"]


@settings(max_examples=300, deadline=None)
@given(credit_profiles())
def test_reason_codes_are_at_most_four_ordered_by_loss_and_only_from_losing_attributes(
        policy, credit):
    risk = assess_risk(policy, credit, 60)
    detail = risk.score_detail
    lost = {a.attribute.reason_code: a.points_lost for a in detail.attributes}
    codes = [r.code for r in risk.reason_codes]
    assert len(codes) <= MAX_REASON_CODES
    assert len(set(codes)) == len(codes)
    assert all(code in lost and lost[code] > 0 for code in codes)
    losses = [lost[code] for code in codes]
    assert losses == sorted(losses, reverse=True)
    # nothing left out that lost more than the last reason given
    if len(codes) == MAX_REASON_CODES:
        omitted = [v for c, v in lost.items() if c not in codes]
        assert all(v <= losses[-1] for v in omitted)
    else:
        assert len(codes) == sum(1 for v in lost.values() if v > 0)
    # the score is the base plus the bins' points, the PD its documented inverse
    assert detail.score == pytest.approx(
        policy.scorecard.base_points + sum(a.points for a in detail.attributes))
    assert risk.probability_of_default == pytest.approx(
        ScoreScaling.of(policy.scorecard).probability_of_default(detail.score))


@pytest.mark.parametrize("score", [-1e11, -1e6, 1e6, 1e11])
def test_pd_of_a_far_off_score_is_a_probability_not_an_overflow(score):
    """Found by the schema fuzzer: a draft policy with 1e11 points per bin made math.exp
    overflow (OverflowError) inside simulatePolicy; the logistic now saturates at 0 or 1."""
    scaling = ScoreScaling(factor=20 / math.log(2), offset=600 - 20 / math.log(2) * math.log(50))
    pd = scaling.probability_of_default(score)
    assert pd == (MAX_PD if score < 0 else 0.0)


def test_pd_is_never_exactly_one():
    """Found by fuzzing policies: a draft with base_score 1e308 rounded every PD to 1.0, and the
    break-even rate, which divides by 1 - PD, raised ZeroDivisionError."""
    scaling = ScoreScaling.of(Scorecard(base_score=1e308, base_odds=50, pdo=20, base_points=0,
                                        attributes=()))
    assert scaling.probability_of_default(600) == MAX_PD < 1.0
