"""Annual percentage rate (APR) as the Key Facts Statement defines it.

RBI circular RBI/2024-25/18 (Key Facts Statement for loans and advances, from 1 Oct 2024): the
APR is the annual cost of credit including interest and all other charges. Computed as
``12 * r`` where ``r`` is the monthly internal rate of return of the cash flows ``+ net
disbursal`` at month 0 (principal less processing fee, GST on it and other upfront charges)
and ``- instalment_k`` at months ``k = 1..n``: ``net disbursal = sum_k instalment_k / (1+r)^k``.
US Reg Z Appendix J (actuarial method) gives the same construction for monthly unit periods.

The root is searched in ``[-0.99/12, 1]`` a month (-99 % to 1200 % a year): bracketed by
doubling steps from the constant-ratio estimate ``2C / (D (n + 1))``, then refined by the
Illinois variant of false position (Dowell & Jarratt, BIT 11, 1971) with a bisection fallback,
to ``1e-13``. With non-negative instalments the present value falls strictly as ``r`` rises,
so the root is unique.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from decimal import ROUND_HALF_UP, Decimal

from domain.finance.money import HUNDREDTH, Paise

MIN_MONTHLY_RATE = -0.99 / 12
MAX_MONTHLY_RATE = 1.0
RATE_TOLERANCE = 1e-13
_TWO_PLACES = Decimal("0.01")


def apr_percent(net_disbursal_paise: Paise, instalments: Sequence[Paise]) -> Decimal:
    """The APR in percent a year, rounded half up to 2 decimals (e.g. ``Decimal("23.55")``)."""
    percent = Decimal(repr(1200 * monthly_irr(net_disbursal_paise, instalments)))
    return percent.quantize(_TWO_PLACES, rounding=ROUND_HALF_UP) + 0  # + 0 drops a "-0.00"


def level_apr_percent(net_disbursal_paise: Paise, emi: Paise, tenure: int, last: Paise
                      ) -> Decimal:
    """:func:`apr_percent` of ``tenure - 1`` instalments of ``emi`` and a final ``last``: the
    same figure, without building the instalment tuple (it runs for every offer).

    Newton's method from the constant-ratio guess usually needs four or five steps where bracketing
    and Illinois need a dozen. Its root is used only when it provably rounds to the same
    hundredth as the bracketing solver's: the computed excess changes sign within
    ``NEWTON_CHECK`` of it (so both roots lie within ``1200 * NEWTON_CHECK`` percent of each
    other) and it lies farther than ``ROUNDING_GUARD`` percent from a rounding boundary.
    Otherwise (about one loan in 10^5, and rates near zero) the bracketing solver decides.
    """
    if tenure < 2 or emi < 0:
        return apr_percent(net_disbursal_paise, (emi,) * (tenure - 1) + (last,))
    if net_disbursal_paise <= 0 or last < 0:
        _check_flows(net_disbursal_paise, (emi, last))  # raises
    total = emi * (tenure - 1) + last
    guess = 2 * (total - net_disbursal_paise) / (net_disbursal_paise * (tenure + 1))
    fast = _newton_level(net_disbursal_paise, emi, last, tenure, guess)
    if fast is not None:
        return fast
    excess = _level_excess(net_disbursal_paise, emi, last, tenure)
    percent = Decimal(repr(1200 * _solve_increasing(excess, guess)))
    return percent.quantize(_TWO_PLACES, rounding=ROUND_HALF_UP) + 0


#: Newton's root is checked to lie within this of a sign change of the excess (monthly rate).
NEWTON_CHECK = 1e-12
#: ... and to be this far (in percent a year) from a half-hundredth, where rounding turns.
ROUNDING_GUARD = 1e-7
_NEWTON_STEPS = 12
#: Newton stops after a step this small. Convergence is quadratic with a constant of ~15 for
#: these tenures, so the root is then within ~1e-13 of the iterate, which the sign-change
#: check proves (if it did not, the bracketing solver would decide): one step fewer than
#: stopping at 1e-9 for most offers.
_NEWTON_STOP = 1e-7


def _newton_level(net_disbursal: int, level: int, last_instalment: int, n: int, guess: float
                  ) -> Decimal | None:
    """The APR by Newton's method on the level-stream excess, or None when it cannot be
    shown to round like the bracketing solver (see :func:`level_apr_percent`)."""
    level_share, last, m = level / net_disbursal, last_instalment / net_disbursal, n - 1
    r = guess
    for _ in range(_NEWTON_STEPS):
        if not 1e-6 < r < MAX_MONTHLY_RATE:  # near zero the annuity's derivative cancels
            return None
        # With v = 1/(1+r): excess = 1 - L (1 - v^m)/r - T v^n, and its derivative
        # -L (m v^n - (1 - v^m)/r)/r + T n v^n/(1+r)   (n = m + 1, so v^(m+1) = v^n).
        growth = 1.0 + r
        discount_n = growth ** -n
        annuity = (1.0 - discount_n * growth) / r
        slope = last * n * discount_n / growth - level_share * (m * discount_n - annuity) / r
        if not slope > 0:
            return None
        step = (1.0 - level_share * annuity - last * discount_n) / slope
        r -= step
        if abs(step) <= _NEWTON_STOP:
            break
    else:
        return None
    # The same excess function the bracketing solver uses (_level_excess), evaluated inline.
    if not (_excess_at(r - NEWTON_CHECK, level_share, last, m, n) < 0
            < _excess_at(r + NEWTON_CHECK, level_share, last, m, n)):
        return None
    hundredths = 120_000 * r  # the APR in hundredths of a percent
    if abs(hundredths - math.floor(hundredths) - 0.5) * 0.01 <= ROUNDING_GUARD:
        return None
    # Away from a half-hundredth, rounding the float is rounding its repr (positive: r > 0).
    return Decimal(math.floor(hundredths + 0.5)) * HUNDREDTH  # as scaleb(-2): well below 1e26


def monthly_irr(net_disbursal_paise: Paise, instalments: Sequence[Paise]) -> float:
    """The monthly IRR of the loan's cash flows, unrounded (within ``1e-13``).

    ``ValueError`` if the disbursal is not positive, an instalment is negative, or the rate is
    outside ``[-0.99/12, 1]`` a month (e.g. far less is repaid than was disbursed).
    """
    _check_flows(net_disbursal_paise, instalments)
    excess = _excess_over_disbursal(net_disbursal_paise, instalments)
    # Constant-ratio approximation 2C / (D (n+1)) (C = total charges): a close first guess.
    total = sum(instalments)
    guess = 2 * (total - net_disbursal_paise) / (net_disbursal_paise * (len(instalments) + 1))
    return _solve_increasing(excess, guess)


def _check_flows(net_disbursal: int, instalments: Sequence[int]) -> None:
    if net_disbursal <= 0:
        raise ValueError(f"net disbursal must be positive, got {net_disbursal} paise")
    if not instalments:
        raise ValueError("at least one instalment is needed")
    if min(instalments) < 0:
        raise ValueError("instalments must not be negative")


def _excess_over_disbursal(
    net_disbursal: int, instalments: Sequence[int]
) -> Callable[[float], float]:
    """``r -> 1 - PV(r) / disbursal``: increasing in ``r``, zero at the IRR.

    O(1) per call when instalments 1..n-1 are equal (level EMI, adjusted last), else O(n).
    """
    n = len(instalments)
    level = instalments[0]
    if instalments[:-1].count(level) == n - 1:
        return _level_excess(net_disbursal, level, instalments[-1], n)

    shares = [amount / net_disbursal for amount in reversed(instalments)]

    def general_excess(r: float) -> float:
        discount = 1 / (1 + r)
        present_value = 0.0
        for share in shares:  # Horner: v*(A1 + v*(A2 + ... + v*An))
            present_value = (present_value + share) * discount
        return 1 - present_value

    return general_excess


def _level_excess(net_disbursal: int, level: int, last_instalment: int, n: int
                  ) -> Callable[[float], float]:
    """``r -> 1 - PV(r) / disbursal`` for n-1 instalments of ``level`` and a final one: O(1)."""
    level_share = level / net_disbursal
    last = last_instalment / net_disbursal
    m = n - 1

    def level_excess(r: float) -> float:
        return _excess_at(r, level_share, last, m, n)

    return level_excess


def _excess_at(r: float, level_share: float, last: float, m: int, n: int) -> float:
    """The level stream's excess at ``r`` (shares of the disbursal, ``m = n - 1``)."""
    log_growth = math.log1p(r)
    # sum_{k=1..m} (1+r)^-k = -expm1(-m ln(1+r)) / r, computed without cancellation.
    annuity = -math.expm1(-m * log_growth) / r if r != 0 else float(m)
    return 1 - level_share * annuity - last * math.exp(-n * log_growth)


def _solve_increasing(f: Callable[[float], float], guess: float) -> float:
    """Root of an increasing ``f`` in ``[MIN_MONTHLY_RATE, MAX_MONTHLY_RATE]``, to
    ``RATE_TOLERANCE``: bracket it by doubling steps from ``guess``, then Illinois."""
    x = min(max(guess, MIN_MONTHLY_RATE), MAX_MONTHLY_RATE)
    f_x = f(x)
    if f_x == 0:
        return x
    step = 0.25 * max(abs(x), 1e-3)
    limit = MAX_MONTHLY_RATE if f_x < 0 else MIN_MONTHLY_RATE
    direction = 1.0 if f_x < 0 else -1.0
    while True:
        y = x + direction * step
        y = min(y, limit) if direction > 0 else max(y, limit)
        f_y = f(y)
        if f_y == 0:
            return y
        if (f_y < 0) != (f_x < 0):
            break
        if y == limit:
            raise ValueError(
                "no APR between -99% and 1200% a year for these cash flows "
                "(is far less repaid than disbursed?)"
            )
        x, f_x, step = y, f_y, 2 * step
    lo, f_lo, hi, f_hi = (x, f_x, y, f_y) if direction > 0 else (y, f_y, x, f_x)
    return _illinois(f, lo, hi, f_lo, f_hi)


def _illinois(f: Callable[[float], float], lo: float, hi: float, f_lo: float, f_hi: float) -> float:
    """Root of an increasing ``f`` with ``f(lo) < 0 < f(hi)``, to ``RATE_TOLERANCE``."""
    retained = 0
    for _ in range(100):
        if hi - lo <= RATE_TOLERANCE:
            break
        x = (lo * f_hi - hi * f_lo) / (f_hi - f_lo)
        if not lo < x < hi:
            x = 0.5 * (lo + hi)
        f_x = f(x)
        if f_x == 0:
            return x
        if f_x < 0:
            lo, f_lo = x, f_x
            if retained == -1:  # hi kept twice in a row: halve its weight (Illinois)
                f_hi *= 0.5
            retained = -1
        else:
            hi, f_hi = x, f_x
            if retained == 1:
                f_lo *= 0.5
            retained = 1
    while hi - lo > RATE_TOLERANCE:  # only if false position stalled
        mid = 0.5 * (lo + hi)
        if f(mid) < 0:
            lo = mid
        else:
            hi = mid
    return 0.5 * (lo + hi)
