from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.finance.calendar import add_working_days

IST = ZoneInfo("Asia/Kolkata")


def test_three_working_days_from_friday_skip_the_weekend():
    friday = datetime(2024, 10, 4, 10, 30, tzinfo=IST)
    assert add_working_days(friday, 3) == datetime(2024, 10, 9, 23, 59, 59, tzinfo=IST)


def test_the_result_keeps_the_start_timezone():
    result = add_working_days(datetime(2024, 10, 4, 10, 30, tzinfo=IST), 3)
    assert result.tzinfo is IST
    assert result.utcoffset() == timedelta(hours=5, minutes=30)


def test_a_weekend_start_counts_from_monday():
    saturday = datetime(2024, 10, 5, 9, 0)
    assert add_working_days(saturday, 1) == datetime(2024, 10, 7, 23, 59, 59)


def test_holidays_are_skipped():
    friday = datetime(2024, 10, 4, 10, 30, tzinfo=IST)
    holidays = frozenset({date(2024, 10, 7), date(2024, 10, 9)})  # Monday, Wednesday
    # Tuesday, Thursday, Friday
    assert add_working_days(friday, 3, holidays) == datetime(2024, 10, 11, 23, 59, 59, tzinfo=IST)


def test_zero_days_is_the_end_of_the_start_day():
    start = datetime(2024, 10, 5, 9, 0, tzinfo=UTC)
    assert add_working_days(start, 0) == datetime(2024, 10, 5, 23, 59, 59, tzinfo=UTC)


def test_negative_days_are_refused():
    with pytest.raises(ValueError):
        add_working_days(datetime(2024, 10, 4), -1)


@given(
    st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1)), st.integers(1, 60)
)
def test_exactly_n_working_days_are_counted(start, n):
    end = add_working_days(start, n)
    span = (end.date() - start.date()).days
    days = [start.date() + timedelta(days=k) for k in range(1, span + 1)]
    assert sum(day.weekday() < 5 for day in days) == n
    assert end.weekday() < 5
    assert (end.hour, end.minute, end.second) == (23, 59, 59)
