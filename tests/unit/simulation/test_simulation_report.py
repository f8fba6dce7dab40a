"""The report's figures from a hand-made batch outcome."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest

from domain.policy.parsing import parse_policy_toml
from domain.simulation.batch import APPROVED, DECLINED, BatchOutcome
from domain.simulation.columns import ApplicantColumns
from domain.simulation.report import compare, summarise

POLICY = parse_policy_toml((Path(__file__).resolve().parents[3] / "config" / "policies"
                            / "default.toml").read_text())


def outcome(decisions: list[int], roi_bps: list[int], conversion: list[float],
            amount_rupees: list[int], profit: list[float], bands: list[int]) -> BatchOutcome:
    n = len(decisions)
    return BatchOutcome(
        policy_version=POLICY.version, decision=np.array(decisions), band=np.array(bands),
        risk_score=np.zeros(n), offers=np.ones(n, dtype=np.int64),
        amount_paise=np.array(amount_rupees, dtype=np.int64) * 100,
        tenure=np.full(n, 36), roi_bps=np.array(roi_bps), emi_paise=np.zeros(n, dtype=np.int64),
        apr_percent=np.array(roi_bps) / 100 + 1.0, fee_paise=np.zeros(n, dtype=np.int64),
        conversion=np.array(conversion), expected_profit=np.array(profit),
        decline_reasons={"SCORE_BELOW_CUTOFF": np.array(decisions) == DECLINED},
        fallback=np.full(n, "", dtype=object),
        # the rank-1 segment economics (volume targets): not read by the report
        break_even=np.full(n, np.nan), intercept=np.full(n, np.nan), slope=np.full(n, np.nan),
        margin_factor=np.full(n, np.nan), rate_floor=np.full(n, np.nan),
        rate_ceiling=np.full(n, np.nan))


def columns(genders: list[str]) -> ApplicantColumns:
    n = len(genders)
    cols = {name: np.zeros(n) for name in ApplicantColumns.__dataclass_fields__}
    cols["user_ids"] = tuple(f"u{i}" for i in range(n))
    cols["protected"] = {"gender": np.array(genders, dtype=object)}
    return ApplicantColumns(**cols)


def test_rates_money_bands_and_fairness() -> None:
    # 60 women: 30 approved; 60 men: 60 approved -> adverse impact ratio 0.5, fails.
    decisions = [APPROVED] * 30 + [DECLINED] * 30 + [APPROVED] * 60
    n = len(decisions)
    out = outcome(decisions, [1500] * n, [0.5] * n, [100_000] * n, [2000.0] * n, [0] * n)
    report = summarise(out, POLICY, columns(["F"] * 60 + ["M"] * 60))
    assert report.approval_rate == pytest.approx(0.75)
    assert report.decline_rate == pytest.approx(0.25)
    assert report.expected_booked_volume == Decimal("4500000.00")   # 90 x 0.5 x 1 lakh
    assert report.expected_profit == Decimal("90000.00")
    assert report.bands[0].approved == 90 and report.bands[0].mean_roi == pytest.approx(15.0)
    assert report.bands[1].mean_roi is None
    (gender,) = report.fairness
    assert gender.adverse_impact_ratio == pytest.approx(0.5)
    assert not gender.passes
    assert report.decline_reasons[0].name == "SCORE_BELOW_CUTOFF"
    assert report.decline_reasons[0].count == 30


def test_small_groups_are_not_compared() -> None:
    decisions = [APPROVED] * 40 + [DECLINED] * 5
    n = len(decisions)
    out = outcome(decisions, [1500] * n, [0.5] * n, [100_000] * n, [2000.0] * n, [1] * n)
    report = summarise(out, POLICY, columns(["F"] * 40 + ["X"] * 5))
    assert report.fairness[0].adverse_impact_ratio is None and report.fairness[0].passes


def test_comparison_counts_changes() -> None:
    cols = columns(["F"] * 4)
    live = outcome([APPROVED, APPROVED, DECLINED, APPROVED], [1500, 1600, 0, 1700],
                   [0.5] * 4, [1] * 4, [1.0] * 4, [0] * 4)
    draft = outcome([APPROVED, DECLINED, DECLINED, APPROVED], [1400, 0, 0, 1700],
                    [0.5] * 4, [1] * 4, [1.0] * 4, [0] * 4)
    report = compare((live, POLICY), (draft, POLICY), cols, seed=5)
    assert report.changed_decisions == 1
    assert report.changed_prices == 1
    assert report.mean_roi_change == pytest.approx(-0.5)   # (-1.00 + 0) / 2 points
