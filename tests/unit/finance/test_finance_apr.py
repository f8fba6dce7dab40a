from decimal import Decimal

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from domain.finance.apr import apr_percent, level_apr_percent, monthly_irr
from domain.finance.schedule import build_schedule

rois = st.integers(0, 10_000).map(lambda bp: Decimal(bp) / 100)


def bisection_irr(net: int, instalments: list[int]) -> float:
    """Reference: plain present-value sum, bisection to the last representable float."""
    lo, hi = -0.99 / 12, 1.0
    for _ in range(200):
        mid = (lo + hi) / 2
        present_value = sum(a / (1 + mid) ** k for k, a in enumerate(instalments, start=1))
        if present_value > net:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2


def repayable(principal: int, roi: Decimal, n: int) -> bool:
    i = float(roi) / 1200
    growth = (1 + i) ** n
    return growth < 1e4 and principal > 10 * n * growth


def test_one_instalment_has_a_closed_form():
    # 1,00,000 paise now, 1,01,000 in a month: 1 % a month, 12 % a year
    assert apr_percent(100_000, [101_000]) == Decimal("12.00")


def test_two_instalments_have_a_closed_form():
    # 210 = 121/1.1 + 121/1.21: 10 % a month
    assert monthly_irr(210_000, [121_000, 121_000]) == pytest.approx(0.1, abs=1e-13)
    assert apr_percent(210_000, [121_000, 121_000]) == Decimal("120.00")


def test_zero_and_negative_rates():
    assert str(apr_percent(1_200, [100] * 12)) == "0.00"
    assert apr_percent(1_000, [999]) == Decimal("-1.20")


def test_the_cli_example():
    schedule = build_schedule(4_700_000, Decimal("21"), 24)
    net = 4_700_000 - 117_500 - 21_150
    assert apr_percent(net, schedule.instalments) == Decimal("24.15")
    assert monthly_irr(net, schedule.instalments) == pytest.approx(
        bisection_irr(net, list(schedule.instalments)), abs=1e-12
    )


def test_a_different_middle_instalment_is_not_taken_for_a_level_stream():
    instalments = [50_000, 90_000, 50_000, 50_000]
    assert monthly_irr(200_000, instalments) == pytest.approx(
        bisection_irr(200_000, instalments), abs=1e-12
    )


@given(st.integers(1_000_000, 10**10), rois, st.integers(1, 600))
def test_apr_equals_roi_without_fees(principal, roi, n):
    assume(repayable(principal, roi, n))
    schedule = build_schedule(principal, roi, n)
    assert apr_percent(principal, schedule.instalments) == roi


@given(st.integers(1_000_000, 10**10), rois, st.integers(1, 600), st.data())
def test_apr_exceeds_roi_when_a_fee_is_charged(principal, roi, n, data):
    assume(repayable(principal, roi, n))
    schedule = build_schedule(principal, roi, n)
    # Any fee beats the paisa rounding of the schedule (<= n/2 paise of present value) ...
    small_fee = data.draw(st.integers(n, principal // 10), label="small_fee")
    assert 1200 * monthly_irr(principal - small_fee, schedule.instalments) > roi
    # ... and a fee of 1 % or more moves the APR by at least 0.01 point, for n <= 600.
    fee = data.draw(st.integers(principal // 100, principal // 10), label="fee")
    assert apr_percent(principal - fee, schedule.instalments) > roi


@given(
    st.integers(1_000_000, 10**9),
    st.lists(st.integers(0, 10**8), min_size=1, max_size=120),
)
def test_irr_matches_a_dense_bisection(net, instalments):
    reference = bisection_irr(net, instalments)
    if -0.99 / 12 + 1e-9 < reference < 1.0 - 1e-9:
        assert monthly_irr(net, instalments) == pytest.approx(reference, abs=1e-10)
    else:  # the reference ran into an end of the range: no root inside it
        assume(sum(instalments) > 0 and (reference < -0.08 or reference > 0.99))
        with pytest.raises(ValueError, match="no APR"):
            monthly_irr(net, instalments)


@given(st.integers(1_000_000, 10**10), rois, st.integers(1, 600), st.integers(0, 1_000))
def test_level_schedules_match_a_dense_bisection(principal, roi, n, fee_bp):
    assume(repayable(principal, roi, n))
    instalments = build_schedule(principal, roi, n).instalments
    fee = principal * fee_bp // 10_000  # up to 10 %
    reference = bisection_irr(principal - fee, list(instalments))
    assert monthly_irr(principal - fee, instalments) == pytest.approx(reference, abs=1e-10)


@pytest.mark.parametrize(
    ("net", "instalments", "message"),
    [
        (0, [100], "net disbursal"),
        (-5, [100], "net disbursal"),
        (100, [], "at least one"),
        (100, [200, -1], "negative"),
        (100_000, [1], "no APR"),
        (100, [10**9], "no APR"),
        (100, [0, 0], "no APR"),
    ],
)
def test_impossible_flows_are_refused(net, instalments, message):
    with pytest.raises(ValueError, match=message):
        apr_percent(net, instalments)


@given(st.integers(1_000_000, 10**10), rois, st.integers(1, 600), st.integers(0, 50), st.data())
def test_the_level_stream_shortcut_gives_the_same_apr(principal, roi, n, fee_permille, data):
    assume(repayable(principal, roi, n))
    schedule = build_schedule(principal, roi, n)
    net = principal - principal * fee_permille // 1000
    assert level_apr_percent(net, schedule.emi, n, schedule.last_instalment) == apr_percent(
        net, schedule.instalments)
