"""A volume target over a simulated portfolio: reached exactly, and at a higher profit than the
obvious alternative (one rate cut for everyone) that reaches it too."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
from scipy.optimize import brentq

from adapters.demo.portfolio import generate_applicants
from domain.optimization.price_response import take_up
from domain.policy.parsing import parse_policy_toml
from domain.simulation.batch import DECLINED, simulate_batch
from domain.simulation.columns import ApplicantColumns
from domain.simulation.volume import plan_volume_target

POLICY = parse_policy_toml((Path(__file__).resolve().parents[3] / "config" / "policies"
                            / "default.toml").read_text())
NOW = datetime(2026, 1, 5, 10, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def outcome():
    cols = ApplicantColumns.from_applicants(list(generate_applicants(800)))
    return simulate_batch(POLICY, cols, NOW)


def test_target_reached_at_a_better_profit_than_a_uniform_cut(outcome) -> None:
    plan = plan_volume_target(outcome, POLICY, 0.6)
    assert plan.binding and plan.feasible
    assert plan.planned_take_up == pytest.approx(0.6, abs=1e-9)
    ok = outcome.decision != DECLINED
    r0, a, b, k = (outcome.break_even[ok], outcome.intercept[ok], outcome.slope[ok],
                   outcome.margin_factor[ok])
    lo, hi = outcome.rate_floor[ok], outcome.rate_ceiling[ok]
    current = outcome.roi_bps[ok] / 1e4

    def uniform(cut: float) -> np.ndarray:
        return np.clip(current - cut, lo, hi)

    cut = brentq(lambda c: take_up(uniform(c), a, b).mean() - 0.6, 0.0, 0.3)
    rates = uniform(cut)
    uniform_profit = float(np.sum(take_up(rates, a, b) * k * (rates - r0)))
    assert plan.planned_profit > uniform_profit
    # Every band gets cheaper to buy the volume.
    for band in plan.bands:
        if band.current_roi is not None:
            assert band.planned_roi < band.current_roi


def test_unreachable_and_non_binding_targets(outcome) -> None:
    assert not plan_volume_target(outcome, POLICY, 0.999).feasible
    assert not plan_volume_target(outcome, POLICY, 0.05).binding
