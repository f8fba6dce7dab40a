from decimal import Decimal
from fractions import Fraction
from itertools import pairwise

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from domain.finance.instalment import emi_paise
from domain.finance.money import div_round_half_up
from domain.finance.schedule import Instalment, build_schedule

rois = st.integers(0, 10_000).map(lambda bp: Decimal(bp) / 100)


def level_emi_can_repay(principal: int, roi: Decimal, n: int) -> bool:
    """Rounding errors (<= 1 paisa a month) compound like (1+i)^n; the last level EMI must
    dwarf them, else the rounded EMI clears the loan early (documented ValueError)."""
    i = float(roi) / 1200
    worst_drift = n if i == 0 else ((1 + i) ** n - 1) / i
    return emi_paise(principal, roi, n) > 4 * worst_drift


def test_textbook_schedule():
    schedule = build_schedule(10_000_000, Decimal("12"), 12)
    first, last = schedule.rows[0], schedule.rows[-1]
    assert first == Instalment(1, 10_000_000, 888_488, 100_000, 788_488, 9_211_512)
    assert len(schedule.rows) == 12
    assert last.month == 12 and last.closing_balance == 0
    assert last.emi == last.opening_balance + last.interest
    assert schedule.emi == 888_488
    assert schedule.last_instalment == last.emi == 888_485
    assert schedule.total_interest == 661_853
    assert schedule.total_payable == 10_661_853


def test_one_month_loan():
    schedule = build_schedule(10_000_000, Decimal("12"), 1)
    assert schedule.rows == (Instalment(1, 10_000_000, 10_100_000, 100_000, 10_000_000, 0),)


def test_zero_rate_schedule_has_no_interest():
    schedule = build_schedule(10_000_000, Decimal("0"), 12)
    assert schedule.total_interest == 0
    assert schedule.instalments == (833_333,) * 11 + (833_337,)


@given(st.integers(100_000, 10**10), rois, st.integers(1, 600))
def test_schedule_repays_principal_to_the_paisa(principal, roi, n):
    assume(level_emi_can_repay(principal, roi, n))
    schedule = build_schedule(principal, roi, n)
    rows = schedule.rows
    i = Fraction(roi) / 1200
    assert [row.month for row in rows] == list(range(1, n + 1))
    assert sum(row.principal for row in rows) == principal
    assert rows[0].opening_balance == principal and rows[-1].closing_balance == 0
    for row, following in pairwise(rows):
        assert row.closing_balance == following.opening_balance > 0
    for row in rows:
        exact = row.opening_balance * i
        assert row.interest == div_round_half_up(exact.numerator, exact.denominator)
        assert row.principal == row.emi - row.interest >= 0
        assert row.closing_balance == row.opening_balance - row.principal
    assert all(row.emi == schedule.emi for row in rows[:-1])
    assert schedule.total_interest == sum(row.interest for row in rows)
    assert schedule.total_payable == sum(row.emi for row in rows)
    assert schedule.total_interest == schedule.total_payable - principal
    assert schedule.last_instalment == rows[-1].emi
    assert schedule.instalments == tuple(row.emi for row in rows)


def test_rows_are_built_once():
    schedule = build_schedule(4_700_000, Decimal("21"), 24)
    assert schedule.rows is schedule.rows


def test_schedules_compare_by_value():
    assert build_schedule(4_700_000, Decimal("21"), 24) == build_schedule(
        4_700_000, Decimal("21"), 24
    )
    assert build_schedule(4_700_000, Decimal("21"), 24) != build_schedule(
        4_700_000, Decimal("21"), 23
    )


@pytest.mark.parametrize(
    ("principal", "roi", "n"),
    [
        (10_000, "0", 600),  # EMI 17 paise overpays 0.33 a month: repaid by month 589
        (10_000_000, "36", 600),  # EMI rounds to the interest: nothing repaid until a balloon
        (1, "12", 600),  # EMI rounds to 0
    ],
)
def test_a_level_emi_that_cannot_amortise_the_loan_is_refused(principal, roi, n):
    with pytest.raises(ValueError, match="no level EMI in whole paise"):
        build_schedule(principal, Decimal(roi), n)
