"""The customer's offer history with us feeds the behaviour analysis and so the price."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from domain.applicant import LoanRequest
from domain.behavior.analysis import history_features, sensitivity_features, sensitivity_score
from domain.behavior.history import NO_HISTORY, OfferHistorySummary
from domain.behavior.metrics import BehaviorMetrics
from domain.behavior.sensitivity_level import PriceSensitivity
from domain.offer_engine import generate_offer_set, inputs_hash
from domain.policy.parsing import parse_policy_toml


def test_the_default_policy_weighs_history(policy):
    weights = policy.sensitivity.weights
    assert (weights["declined_offers"], weights["lapsed_offers"],
            weights["recent_acceptance"]) == (0.20, 0.10, -0.20)


@pytest.mark.parametrize(("history", "features"), [
    (NO_HISTORY, {"declined_offers": 0.0, "lapsed_offers": 0.0, "recent_acceptance": 0.0}),
    (OfferHistorySummary(answers=4, declined=3, lapsed=1),
     {"declined_offers": 1.0, "lapsed_offers": 0.2, "recent_acceptance": 0.0}),
    (OfferHistorySummary(answers=9, declined=9), {"declined_offers": 1.0, "lapsed_offers": 0.0,
                                                 "recent_acceptance": 0.0}),
])
def test_history_features_are_capped_fractions(history, features, now):
    assert history_features(history, now) == features


def test_an_acceptance_fades_over_a_year(now):
    def recency(days: int) -> float:
        h = OfferHistorySummary(answers=1, accepted=1, last_accepted_at=now - timedelta(days=days))
        return history_features(h, now)["recent_acceptance"]

    assert recency(0) == 1.0
    assert recency(73) == pytest.approx(0.8)
    assert recency(365) == 0.0
    assert recency(500) == 0.0


def test_an_acceptance_cannot_be_weighed_without_now(now):
    h = OfferHistorySummary(answers=1, accepted=1, last_accepted_at=None)
    assert history_features(h, None)["recent_acceptance"] == 0.0
    with pytest.raises(ValueError, match="now"):
        history_features(replace(h, last_accepted_at=now), None)


def test_inconsistent_counts_are_refused():
    with pytest.raises(ValueError):
        OfferHistorySummary(answers=1, accepted=1, declined=1)
    with pytest.raises(ValueError):
        OfferHistorySummary(offers_seen=-1)


def test_without_history_the_reference_scores_hold(policy, now):
    # the documented lender-counter examples (test_behavior) are unchanged by the history terms
    assert sensitivity_score(policy, BehaviorMetrics(), NO_HISTORY, now) == 0.25
    assert sensitivity_score(policy, BehaviorMetrics(rate_comparisons_90d=2), NO_HISTORY,
                             now) == pytest.approx(0.34)
    assert sensitivity_features(BehaviorMetrics())["decline_ratio"] == 0.0


def test_declined_and_lapsed_answers_raise_the_sensitivity(policy, now):
    m = BehaviorMetrics()
    shopper = OfferHistorySummary(offers_seen=20, answers=4, declined=3, lapsed=1)
    # 0.25 + 0.20 * 1 + 0.10 * 0.2
    assert sensitivity_score(policy, m, shopper, now) == pytest.approx(0.47)
    loyal = OfferHistorySummary(offers_seen=5, answers=1, accepted=1,
                                last_accepted_at=now - timedelta(days=30))
    # 0.25 - 0.20 * (1 - 30/365)
    assert sensitivity_score(policy, m, loyal, now) == pytest.approx(0.25 - 0.2 * (335 / 365))


def test_a_policy_without_history_weights_ignores_history(policy_text, now):
    lines = [line for line in policy_text.splitlines()
             if not line.startswith(("declined_offers", "lapsed_offers", "recent_acceptance"))]
    old = parse_policy_toml("\n".join(lines))
    assert "declined_offers" not in old.sensitivity.weights
    shopper = OfferHistorySummary(answers=3, declined=3)
    assert sensitivity_score(old, BehaviorMetrics(), shopper, now) == 0.25


def test_unknown_history_weights_are_refused(policy_text):
    with pytest.raises(ValueError, match="declined_offer"):
        parse_policy_toml(policy_text.replace("declined_offers =", "declined_offer ="))


def test_history_changes_sensitivity_and_price(policy, now, new_ids, applicant_builder):
    applicant = applicant_builder()
    fresh = generate_offer_set(policy, applicant, LoanRequest(), now, new_ids())
    shopper = OfferHistorySummary(offers_seen=25, answers=5, declined=3, lapsed=2)
    shopped = generate_offer_set(policy, applicant, LoanRequest(), now, new_ids(), shopper)

    assert fresh.behavior.price_sensitivity is PriceSensitivity.LOW
    assert shopped.behavior.price_sensitivity is PriceSensitivity.MEDIUM
    assert shopped.behavior.price_response.slope > fresh.behavior.price_response.slope
    # a steeper take-up curve pulls the optimal rate down: the same terms cost less
    fresh_by_terms = {(o.amount, o.tenure): o for o in fresh.offers}
    cheaper = [o for o in shopped.offers if (o.amount, o.tenure) in fresh_by_terms
               and o.explanation.unconstrained_optimal_roi
               < fresh_by_terms[(o.amount, o.tenure)].explanation.unconstrained_optimal_roi]
    assert cheaper, "history did not move any price"
    assert shopped.inputs_hash != fresh.inputs_hash


def test_no_history_keeps_the_inputs_hash(policy, now, applicant_builder):
    applicant = applicant_builder()
    assert inputs_hash(applicant, LoanRequest(), 1, 35) == inputs_hash(
        applicant, LoanRequest(), 1, 35, NO_HISTORY)
