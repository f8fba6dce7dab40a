"""The batch engine decides and prices exactly like the scalar engine, applicant by applicant."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest

from adapters.demo.portfolio import generate_applicants
from domain.applicant import Applicant, LoanRequest
from domain.behavior.history import NO_HISTORY, OfferHistorySummary
from domain.finance.money import to_paise
from domain.offer_engine import generate_offer_set
from domain.policy.model import PricingPolicy
from domain.policy.parsing import parse_policy_toml
from domain.simulation.batch import DECISION_NAMES, BatchOutcome, simulate_batch
from domain.simulation.columns import ApplicantColumns

POLICY_TOML = (Path(__file__).resolve().parents[3] / "config" / "policies" / "default.toml"
               ).read_text()
NOW = datetime(2026, 1, 5, 10, 0, tzinfo=UTC)

#: Rules on every condition the engine knows, a second fee waiver, a bigger discount cap.
VARIANT_RULES = """
[[adjustments]]
name = "BAND_C_TO_E_RELIEF"
delta_bps = -30
reason = "Relief for bands C to E"
when = { risk_bands = ["C", "D", "E"] }

[[adjustments]]
name = "HIGH_SENSITIVITY_SHORT"
delta_bps = -20
reason = "Price-sensitive, short loans"
when = { sensitivities = ["HIGH"], max_tenure = 24 }

[[adjustments]]
name = "SMALL_LOAN"
delta_bps = 35
reason = "Small loans cost more to service"
when = { max_amount = 150000 }
"""


def variant_policy() -> PricingPolicy:
    text = POLICY_TOML.replace("version = 1", "version = 2", 1)
    text = text.replace("max_total_discount_bps = 50", "max_total_discount_bps = 60")
    text = text.replace("cost_of_funds = 0.080", "cost_of_funds = 0.085")
    text = text.replace(
        "[[foir_caps]]",
        "[[fees.waivers]]\nname = \"LOYAL\"\nmin_loans_repaid = 3\nwaiver_percent = 75\n\n"
        "[[foir_caps]]", 1)
    return parse_policy_toml(text + VARIANT_RULES)


def histories(count: int) -> list[OfferHistorySummary]:
    """Every third applicant has a history with us: declines, lapses, an acceptance some days
    (or more than a year) ago."""
    rng = np.random.default_rng(5)
    result = []
    for k in range(count):
        if k % 3:
            result.append(NO_HISTORY)
            continue
        declined, lapsed, accepted = (int(x) for x in rng.integers(0, 4, size=3))
        when = (NOW - timedelta(days=int(rng.integers(0, 500)), seconds=int(rng.integers(0, 86400)))
                if accepted else None)
        result.append(OfferHistorySummary(offers_seen=5 * (declined + lapsed + accepted),
                                          answers=declined + lapsed + accepted, accepted=accepted,
                                          declined=declined, lapsed=lapsed, last_accepted_at=when))
    return result


def assert_equivalent(policy: PricingPolicy, applicants: list[Applicant], out: BatchOutcome,
                      history: list[OfferHistorySummary]) -> None:
    ids = itertools.count()
    for k, applicant in enumerate(applicants):
        scalar = generate_offer_set(policy, applicant, LoanRequest(), NOW, lambda: str(next(ids)),
                                    history[k])
        where = f"applicant {applicant.user_id}"
        assert DECISION_NAMES[out.decision[k]] == scalar.decision.value, where
        assert out.risk_score[k] == scalar.risk.risk_score, where
        assert out.offers[k] == len(scalar.offers), where
        if not scalar.offers:
            codes = {r.code for r in scalar.reasons}
            mine = {code for code, mask in out.decline_reasons.items() if mask[k]}
            assert codes & set(out.decline_reasons) <= mine, where
            continue
        best = scalar.offers[0]
        assert out.band[k] == [b.name for b in policy.bands].index(scalar.risk.risk_band), where
        assert (out.amount_paise[k], out.tenure[k], out.roi_bps[k], out.emi_paise[k],
                out.fee_paise[k]) == (to_paise(best.amount), best.tenure, int(best.roi * 100),
                                      to_paise(best.emi), to_paise(best.processing_fee)), where
        assert abs(out.apr_percent[k] - float(best.apr)) <= 0.01 + 1e-9, where
        assert out.conversion[k] == pytest.approx(best.conversion_probability, abs=1e-12), where
        assert Decimal(repr(float(out.expected_profit[k]))).quantize(Decimal("0.01")) \
            == best.expected_profit, where


@pytest.mark.slow
@pytest.mark.parametrize("make_policy", [lambda: parse_policy_toml(POLICY_TOML), variant_policy],
                         ids=["default", "variant"])
def test_batch_matches_scalar_engine(make_policy) -> None:
    policy = make_policy()
    applicants = list(generate_applicants(1500))
    history = histories(len(applicants))
    out = simulate_batch(policy, ApplicantColumns.from_applicants(applicants, history), NOW)
    decisions = set(out.decision.tolist())
    assert len(decisions) == 2  # approvals and declines both exercised
    assert_equivalent(policy, applicants, out, history)


def test_batch_order_and_subsets_do_not_matter() -> None:
    policy = parse_policy_toml(POLICY_TOML)
    applicants = list(generate_applicants(400))
    cols = ApplicantColumns.from_applicants(applicants)
    whole = simulate_batch(policy, cols, NOW)
    order = np.random.default_rng(7).permutation(len(applicants))
    part = simulate_batch(policy, cols.take(order), NOW)
    assert np.array_equal(part.roi_bps, whole.roi_bps[order])
    assert np.array_equal(part.emi_paise, whole.emi_paise[order])
    assert np.array_equal(part.decision, whole.decision[order])


def test_protected_attributes_change_nothing() -> None:
    policy = parse_policy_toml(POLICY_TOML)
    cols = ApplicantColumns.from_applicants(list(generate_applicants(300)))
    shuffled = {k: np.random.default_rng(1).permutation(v) for k, v in cols.protected.items()}
    swapped = ApplicantColumns(**{**{f: getattr(cols, f) for f in cols.__dataclass_fields__},
                                  "protected": shuffled})
    a, b = simulate_batch(policy, cols, NOW), simulate_batch(policy, swapped, NOW)
    for field in ("decision", "roi_bps", "amount_paise", "tenure", "emi_paise"):
        assert np.array_equal(getattr(a, field), getattr(b, field))


def test_empty_and_all_declined_samples() -> None:
    policy = parse_policy_toml(POLICY_TOML)
    empty = ApplicantColumns.from_applicants([])
    assert len(simulate_batch(policy, empty, NOW).decision) == 0
