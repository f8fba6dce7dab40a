"""Money: integer paise inside the domain, ``Decimal`` rupees at the boundaries.

Rounding rule (pricing-science section 4): every money amount is rounded to the paisa,
half up (half away from zero: 0.5 paise -> 1, -0.5 paise -> -1), and is computed from exact
rationals (integers or ``fractions.Fraction``), never from binary floats. Amounts are never
rounded twice: each figure is rounded once, from its exact value.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from fractions import Fraction

Paise = int

PAISE_PER_RUPEE = 100
_TWO_PLACES = Decimal("0.01")


def to_paise(value: Decimal | int | str) -> Paise:
    """Rupees to paise, exactly. Raises ``ValueError`` for a fraction of a paisa or a non-number.

    Binary floats are refused (``TypeError``): convert them with ``Decimal(str(x))`` first.
    """
    exact = as_fraction(value) * PAISE_PER_RUPEE
    if exact.denominator != 1:
        raise ValueError(f"{value} rupees has more than 2 decimal places")
    return exact.numerator


def to_rupees(paise: Paise) -> Decimal:
    """Paise to rupees, always with exactly two decimal places."""
    if not isinstance(paise, int) or isinstance(paise, bool):
        raise TypeError(f"paise must be an int, got {type(paise).__name__}")
    return (Decimal(paise) / PAISE_PER_RUPEE).quantize(_TWO_PLACES)


def div_round_half_up(numerator: int, denominator: int) -> int:
    """``numerator / denominator`` rounded to the nearest integer, ties away from zero."""
    if denominator == 0:
        raise ZeroDivisionError("division by zero")
    if denominator < 0:
        numerator, denominator = -numerator, -denominator
    quotient, remainder = divmod(abs(numerator), denominator)
    if 2 * remainder >= denominator:
        quotient += 1
    return quotient if numerator >= 0 else -quotient


def percent_of(paise: Paise, percent: Decimal) -> Paise:
    """``percent`` % of ``paise``, rounded half up to the paisa (e.g. GST at 18 % on a fee)."""
    rate = as_fraction(percent)
    return div_round_half_up(paise * rate.numerator, rate.denominator * 100)


def as_fraction(value: Decimal | int | str) -> Fraction:
    """The exact rational value of a decimal number; ``ValueError`` if it is not a finite number."""
    if isinstance(value, bool | float):
        raise TypeError(f"expected Decimal, int or str, got {type(value).__name__}")
    try:
        number = value if isinstance(value, Decimal) else Decimal(value)
    except (InvalidOperation, TypeError) as exc:
        raise ValueError(f"not a number: {value!r}") from exc
    if not number.is_finite():
        raise ValueError(f"not a finite number: {value!r}")
    return Fraction(number)
