"""Amortisation schedule of a level-EMI loan, to the paisa (a Key Facts Statement annex).

Each month: ``interest = opening balance * i`` rounded half up to the paisa (exact integer
arithmetic), ``principal part = EMI - interest``, ``closing = opening - principal part``.
The EMI is :func:`domain.finance.instalment.emi_paise`. Because both the EMI and each month's
interest are rounded, the level EMI does not clear the loan to the paisa: the final instalment
absorbs the rounding residue (it is ``opening balance + interest`` of the last month), as
lenders' repayment schedules do. So the principal parts sum to the principal exactly and
``total payable = principal + total interest``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from functools import lru_cache
from typing import Any

from domain.finance.instalment import (
    check_loan,
    emi_from_terms,
    emi_paise,
    monthly_rate_terms,
)
from domain.finance.money import Paise
from domain.slotted import fast_init


@dataclass(frozen=True, slots=True)
class Instalment:
    """One row of the schedule; money in paise."""

    month: int
    opening_balance: Paise
    emi: Paise
    interest: Paise
    principal: Paise
    closing_balance: Paise


@fast_init
@dataclass(frozen=True, slots=True)
class AmortisationSchedule:
    """The full schedule. ``emi`` is the level instalment of months 1..n-1; the last differs by
    the rounding residue. ``monthly_interest[k]`` is month k+1's interest; every other figure
    follows from it, and the :attr:`rows` are built on first use (pricing needs only totals).
    """

    principal: Paise
    roi_percent: Decimal
    tenure: int
    emi: Paise
    monthly_interest: tuple[Paise, ...]
    _rows: tuple[Instalment, ...] | None = field(
        default=None, init=False, repr=False, compare=False
    )

    @property
    def total_interest(self) -> Paise:
        return sum(self.monthly_interest)

    @property
    def total_payable(self) -> Paise:
        """Sum of all instalments: principal plus total interest (fees are not included)."""
        return self.principal + self.total_interest

    @property
    def last_instalment(self) -> Paise:
        """The final instalment, which absorbs the rounding residue."""
        return self.total_payable - self.emi * (self.tenure - 1)

    @property
    def instalments(self) -> tuple[Paise, ...]:
        """The amounts due in months 1..n, e.g. for :func:`domain.finance.apr.apr_percent`."""
        return (self.emi,) * (self.tenure - 1) + (self.last_instalment,)

    @property
    def rows(self) -> tuple[Instalment, ...]:
        if self._rows is None:
            object.__setattr__(self, "_rows", self._build_rows())
        return self._rows

    def _build_rows(self) -> tuple[Instalment, ...]:
        emi, rows, balance = self.emi, [], self.principal
        for month, interest in enumerate(self.monthly_interest[:-1], start=1):
            closing = balance + interest - emi
            rows.append(Instalment(month, balance, emi, interest, emi - interest, closing))
            balance = closing
        interest = self.monthly_interest[-1]
        rows.append(Instalment(self.tenure, balance, balance + interest, interest, balance, 0))
        return tuple(rows)


def build_schedule(
    principal_paise: Paise, roi_percent: Decimal, tenure_months: int
) -> AmortisationSchedule:
    """The schedule for a level-EMI loan.

    ``ValueError`` if the rounding residue the last instalment absorbs is not smaller than one
    EMI (last instalment <= 0 or >= 2 EMI): then no level EMI in whole paise amortises the loan.
    The residue grows like ``(1 + i)^n``, so this happens only for an amount tiny for its tenure
    (Rs 100 over 600 months at 0 %: the loan is repaid early) or a huge ``(1 + i)^n`` (36 % over
    50 years: the EMI rounds to the first month's interest and nothing is ever repaid).
    """
    emi = emi_paise(principal_paise, roi_percent, tenure_months)
    a, b = monthly_rate_terms(roi_percent)
    # Half up for x >= 0: round(x / b) == (2x + b) // 2b. A balance that falls to zero or below
    # before the last month is caught by the residue check below.
    twice_a, twice_b = 2 * a, 2 * b
    interest = [0] * tenure_months      # filled in place: no append per month
    balance = principal_paise
    for month in range(tenure_months - 1):
        month_interest = (balance * twice_a + b) // twice_b
        balance += month_interest - emi
        interest[month] = month_interest
    interest[-1] = (balance * twice_a + b) // twice_b
    last = balance + interest[-1]
    _check_residue(principal_paise, roi_percent, tenure_months, emi, last)
    return AmortisationSchedule(principal_paise, roi_percent, tenure_months, emi, tuple(interest))


def schedule_totals(principal_paise: Paise, roi_percent: Decimal, tenure_months: int
                    ) -> tuple[Paise, Paise, Paise]:
    """``(emi, total interest, last instalment)`` of :func:`build_schedule`'s schedule, with the
    same errors, without keeping the months (an offer needs only these).

    The same recurrence on the balance alone: with ``i = a/b``, ``B + (2aB + b) // 2b - EMI``
    is ``(2(a + b) B + b - 2b EMI) // 2b`` exactly (an integer added inside a floor division by
    ``2b`` is ``2b`` times itself), one floor division a month. The principal parts repay the
    principal, so total interest = instalments - principal.
    """
    check_loan(principal_paise, tenure_months)
    a, b = monthly_rate_terms(roi_percent)  # once: emi_paise would look them up again
    emi = emi_from_terms(principal_paise, a, b, tenure_months)
    twice_b = 2 * b
    growth, offset, count = 2 * (a + b), b - twice_b * emi, tenure_months - 1
    if count <= _STRAIGHT_LINE_MONTHS:
        balance = _months(count)(principal_paise, growth, offset, twice_b)
    else:
        balance = principal_paise
        for _ in range(count):
            balance = (balance * growth + offset) // twice_b
    last = balance + (balance * 2 * a + b) // twice_b
    _check_residue(principal_paise, roi_percent, tenure_months, emi, last)
    return emi, emi * (tenure_months - 1) + last - principal_paise, last


#: Up to this many months the recurrence runs as straight-line code (:func:`_months`).
_STRAIGHT_LINE_MONTHS = 600


@lru_cache(maxsize=_STRAIGHT_LINE_MONTHS + 1)
def _months(count: int) -> Callable[[int, int, int, int], int]:
    """``balance -> (balance * growth + offset) // twice_b``, ``count`` times, as straight-line
    code compiled once per count: a loop's own bookkeeping (the iterator, the jump) costs
    about as much as a month's integer arithmetic, and this runs for every offer's 11 to 59
    months. The arithmetic is the loop's, statement for statement (a test compares them)."""
    month = "    balance = (balance * growth + offset) // twice_b\n"
    source = f"def months(balance, growth, offset, twice_b):\n{month * count}    return balance\n"
    namespace: dict[str, Any] = {}
    exec(source, namespace)  # our own fixed text: no outside input reaches it
    return namespace["months"]


def _check_residue(principal: Paise, roi: Decimal, tenure: int, emi: Paise, last: Paise) -> None:
    if not 0 < last < 2 * emi:
        raise ValueError(
            f"no level EMI in whole paise repays {principal} paise at {roi} % "
            f"over {tenure} months: an EMI of {emi} paise leaves a last instalment of "
            f"{last} paise (amount too small or tenure too long for the rate)"
        )
