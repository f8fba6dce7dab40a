"""compute_key_figures (what an offer carries) against compute_key_facts (the full KFS with
its schedule): the same figures and the same errors, whatever the terms."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.finance.key_facts import compute_key_facts, compute_key_figures
from domain.finance.schedule import build_schedule, schedule_totals

FIGURES = ("processing_fee", "gst_on_fee", "net_disbursal", "emi", "total_interest",
           "total_payable", "apr_percent")


def outcome(function, *args):
    try:
        return function(*args)
    except (ValueError, TypeError) as error:
        return type(error), str(error)


@given(st.integers(-10, 10**10), st.integers(-100, 10_100).map(lambda bp: Decimal(bp).scaleb(-2)),
       st.integers(-1, 601), st.integers(-1, 10**8), st.sampled_from((Decimal(18), Decimal(28))))
def test_the_same_figures_and_errors_as_the_full_key_facts(principal, roi, tenure, fee, gst):
    facts = outcome(compute_key_facts, principal, roi, tenure, fee, gst)
    figures = outcome(compute_key_figures, principal, roi, tenure, fee, gst)
    if isinstance(facts, tuple):
        assert figures == facts
        return
    for name in FIGURES:
        assert str(getattr(figures, name)) == str(getattr(facts, name)), name


@given(st.integers(1, 10**10), st.integers(0, 10_000).map(lambda bp: Decimal(bp).scaleb(-2)),
       st.integers(1, 600))
def test_schedule_totals_are_the_schedules(principal, roi, tenure):
    schedule = outcome(build_schedule, principal, roi, tenure)
    totals = outcome(schedule_totals, principal, roi, tenure)
    if isinstance(schedule, tuple):
        assert totals == schedule
    else:
        assert totals == (schedule.emi, schedule.total_interest, schedule.last_instalment)


def test_the_cli_example():
    figures = compute_key_figures(4_700_000, Decimal("21"), 24, 117_500)
    assert (figures.emi, figures.total_interest, figures.apr_percent) == (
        241_513, 1_096_301, Decimal("24.15"))


def test_an_unrepayable_schedule_is_refused_alike():
    with pytest.raises(ValueError, match="no level EMI"):
        schedule_totals(10_000, Decimal("0"), 600)


@pytest.mark.parametrize("tenure", [1, 2, 600, 601, 720])
def test_straight_line_months_and_the_loop_beyond_them_agree_with_the_schedule(tenure):
    # Up to 600 months the recurrence runs as generated straight-line code, beyond as a loop.
    schedule = build_schedule(250_000_000, Decimal("9.5"), tenure)
    assert schedule_totals(250_000_000, Decimal("9.5"), tenure) == (
        schedule.emi, schedule.total_interest, schedule.last_instalment)
