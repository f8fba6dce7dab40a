"""``adapters.sql.mapping.to_hundredths``'s exact-integer path gives what the Decimal product
gave, and still refuses anything finer than a hundredth."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from adapters.sql.mapping import to_hundredths

_HUNDRED = Decimal(100)


def _by_product(value: Decimal) -> int | None:
    scaled = value * _HUNDRED
    whole = scaled.to_integral_value()
    return int(whole) if scaled == whole else None


@settings(max_examples=3000)
@given(st.integers(min_value=-(10**20), max_value=10**20), st.integers(min_value=-6, max_value=4))
def test_the_same_as_the_decimal_product(digits: int, exponent: int) -> None:
    value = Decimal(digits).scaleb(exponent)
    expected = _by_product(value)
    if expected is None:
        with pytest.raises(ValueError, match="not a whole number"):
            to_hundredths(value)
    else:
        assert to_hundredths(value) == expected


@pytest.mark.parametrize("value", [Decimal("NaN"), Decimal("0.001"), Decimal("-17.705")])
def test_refused(value: Decimal) -> None:
    with pytest.raises(ValueError):
        to_hundredths(value)


def test_infinity_fails_as_before() -> None:
    with pytest.raises(OverflowError):
        to_hundredths(Decimal("Infinity"))
