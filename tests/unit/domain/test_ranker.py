"""Ranking: expected value first, then the documented deterministic tie-breaks."""

from __future__ import annotations

from decimal import Decimal

import numpy as np

from domain.optimization.candidates import Candidate
from domain.optimization.pricing import PricedFamily
from domain.ranking.ranker import rank_candidates


def family(rows: list[tuple[int, int, float, int, bool]]) -> PricedFamily:
    """rows of (amount, tenure, objective, roi_bps, feasible)."""
    n = len(rows)
    zeros = np.zeros(n)
    return PricedFamily(
        candidates=tuple(Candidate(Decimal(a), t) for a, t, *_ in rows),
        fee=tuple(Decimal(0) for _ in rows), break_even=zeros, intercept=zeros, slope=30.0,
        optimal=zeros, banded=zeros, rule_deltas_bps=np.zeros((0, n)), discount_cap_bps=zeros,
        value_floor_bps=zeros, cap_bps=zeros,
        roi_bps=np.array([r[3] for r in rows], dtype=np.int64),
        feasible=np.array([r[4] for r in rows]), margin_infeasible=np.zeros(n, dtype=bool),
        conversion=zeros, expected_profit=zeros, risk_impact=zeros,
        objective=np.array([r[2] for r in rows], dtype=float),
    )


def order(picks) -> list[tuple[int, int]]:
    return [(int(p.family.candidates[p.index].amount), p.family.candidates[p.index].tenure)
            for p in picks]


def test_highest_objective_first_and_infeasible_dropped():
    f = family([(100_000, 12, 50.0, 1500, True), (200_000, 12, 90.0, 1500, True),
                (300_000, 12, 999.0, 1500, False), (150_000, 24, 70.0, 1500, True)])
    assert order(rank_candidates([f], 5)) == [(200_000, 12), (150_000, 24), (100_000, 12)]


def test_ties_break_on_lower_rate_then_larger_amount_then_shorter_tenure():
    f = family([
        (100_000, 36, 80.0, 1500, True),
        (100_000, 24, 80.0, 1500, True),
        (200_000, 36, 80.0, 1500, True),
        (300_000, 12, 80.0, 1600, True),
        (50_000, 60, 80.0, 1400, True),
        (200_000, 24, 80.0000001, 1500, True),  # equal to 6 decimals: a tie
    ])
    assert order(rank_candidates([f], 10)) == [
        (50_000, 60), (200_000, 24), (200_000, 36), (100_000, 24), (100_000, 36),
        (300_000, 12)]


def test_distinct_terms_across_families_and_the_offer_limit():
    first = family([(100_000, 12, 10.0, 1500, True), (200_000, 12, 30.0, 1500, True)])
    second = family([(100_000, 12, 20.0, 1500, True), (300_000, 24, 5.0, 1500, True)])
    ranked = rank_candidates([first, second], 5)
    assert order(ranked) == [(200_000, 12), (100_000, 12), (300_000, 24)]
    assert ranked[1].family is second  # the better of the two (100k, 12) candidates
    assert order(rank_candidates([first, second], 2)) == [(200_000, 12), (100_000, 12)]


def test_nothing_feasible_ranks_nothing():
    assert rank_candidates([family([(100_000, 12, 10.0, 1500, False)])], 5) == []
