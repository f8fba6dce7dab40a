"""Working-day arithmetic for offer validity.

A Key Facts Statement must stay valid for at least 3 working days (RBI circular
RBI/2024-25/18). Working days are Monday to Friday, less the given holidays.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta, tzinfo
from functools import lru_cache

_END_OF_DAY = time(23, 59, 59)
_SATURDAY = 5


def add_working_days(
    start: datetime, working_days: int, holidays: frozenset[date] = frozenset()
) -> datetime:
    """The end (23:59:59, in ``start``'s tzinfo) of the ``working_days``-th working day after
    ``start``'s date; the start day itself never counts. ``0`` gives the end of the start day.

    E.g. from Friday 10:00, 3 working days end on Wednesday 23:59:59.
    """
    if working_days < 0:
        raise ValueError(f"working_days must not be negative, got {working_days}")
    # The answer depends on the date, not the time: every offer of a day shares it, so it is
    # computed once per day (and time zone, count, holidays) instead of day by day each time.
    return _end_of_working_day(start.date(), working_days, holidays, start.tzinfo)


@lru_cache(maxsize=256)
def _end_of_working_day(day: date, working_days: int, holidays: frozenset[date],
                        tzinfo: tzinfo | None) -> datetime:
    remaining = working_days
    while remaining:
        day += timedelta(days=1)
        if day.weekday() < _SATURDAY and day not in holidays:
            remaining -= 1
    return datetime.combine(day, _END_OF_DAY, tzinfo=tzinfo)
