"""The level-stream APR's Newton shortcut: it answers only when it provably rounds like the
bracketing solver, and otherwise hands over to it."""

from __future__ import annotations

import random
from decimal import Decimal

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

import domain.finance.apr as apr
from domain.finance.apr import apr_percent, level_apr_percent
from domain.finance.schedule import build_schedule


def bracketing_apr(net: int, emi: int, n: int, last: int) -> Decimal:
    """The APR from the bracketing solver alone (the general path, instalments spelled out)."""
    return apr_percent(net, (emi,) * (n - 1) + (last,))


def level_loan(principal: int, roi: str, n: int, fee: int) -> tuple[int, int, int, int]:
    schedule = build_schedule(principal, Decimal(roi), n)
    return principal - fee, schedule.emi, n, schedule.last_instalment


def test_typical_offers_take_the_newton_path(monkeypatch):
    def no_bracketing(*args):
        raise AssertionError("the bracketing solver should not be needed here")

    monkeypatch.setattr(apr, "_solve_increasing", no_bracketing)
    assert level_apr_percent(*level_loan(26_025_000, "16.35", 48, 611_900)) == Decimal("17.68")


def test_a_root_near_a_rounding_boundary_goes_to_the_bracketing_solver(monkeypatch):
    loan = level_loan(26_025_000, "16.35", 48, 611_900)
    used = []
    solve = apr._solve_increasing
    monkeypatch.setattr(apr, "_solve_increasing", lambda *a: used.append(a) or solve(*a))
    monkeypatch.setattr(apr, "ROUNDING_GUARD", 0.01)  # every rate is now "near" a boundary
    assert level_apr_percent(*loan) == Decimal("17.68")
    assert used


def test_zero_rates_go_to_the_bracketing_solver():
    # No interest and no fee: the monthly rate is 0, where Newton's slope formula cancels.
    net, emi, n, last = level_loan(1_200_000, "0", 12, 0)
    assert level_apr_percent(net, emi, n, last) == bracketing_apr(net, emi, n, last) == 0


def test_flows_without_an_apr_in_range_are_refused_as_before():
    with pytest.raises(ValueError, match="no APR"):
        level_apr_percent(100, 10**9, 3, 10**9)


@given(st.integers(10_000, 10**10), st.integers(0, 3_600), st.integers(2, 600), st.integers(0, 100))
def test_newton_and_bracketing_give_the_same_apr(principal, roi_bp, n, fee_permille):
    roi = Decimal(roi_bp).scaleb(-2)
    try:
        schedule = build_schedule(principal, roi, n)
    except ValueError:
        assume(False)
    net = principal - principal * fee_permille // 1000
    args = (net, schedule.emi, n, schedule.last_instalment)
    try:
        expected = bracketing_apr(*args)
    except ValueError as error:
        with pytest.raises(ValueError, match=str(error)):
            level_apr_percent(*args)
        return
    got = level_apr_percent(*args)
    assert got == expected and str(got) == str(expected)


@pytest.mark.slow
def test_twenty_thousand_random_loans_agree_digit_for_digit():
    rng = random.Random(8)
    for _ in range(20_000):
        principal = rng.randrange(50_000_00, 4_000_000_00, 100_000)
        roi = str(Decimal(rng.randrange(1_050, 3_600, 5)).scaleb(-2))
        n = rng.choice((12, 18, 24, 30, 36, 48, 60))
        loan = level_loan(principal, roi, n, principal * rng.randrange(0, 40) // 1000)
        assert str(level_apr_percent(*loan)) == str(bracketing_apr(*loan)), loan
