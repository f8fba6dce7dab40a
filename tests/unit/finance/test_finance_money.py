from decimal import ROUND_HALF_UP, Decimal, localcontext

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.finance.money import div_round_half_up, percent_of, to_paise, to_rupees


@pytest.mark.parametrize(
    ("value", "paise"),
    [
        ("47000", 4_700_000),
        ("47000.5", 4_700_050),
        (Decimal("0.01"), 1),
        (Decimal("1.000"), 100),
        (12, 1200),
        ("-1.50", -150),
        ("0", 0),
    ],
)
def test_to_paise_is_exact(value, paise):
    assert to_paise(value) == paise


@pytest.mark.parametrize(
    "value", ["0.001", "47000.123", Decimal("0.005"), "NaN", "Infinity", "-Infinity", "abc", ""]
)
def test_to_paise_refuses_fractions_of_a_paisa_and_non_numbers(value):
    with pytest.raises(ValueError):
        to_paise(value)


def test_to_paise_refuses_binary_floats():
    with pytest.raises(TypeError):
        to_paise(0.1)


@pytest.mark.parametrize(
    ("paise", "text"),
    [(4_700_000, "47000.00"), (5, "0.05"), (-5, "-0.05"), (0, "0.00"), (123_456, "1234.56")],
)
def test_to_rupees_has_two_decimals(paise, text):
    assert str(to_rupees(paise)) == text


@given(st.integers(min_value=-(10**15), max_value=10**15))
def test_paise_round_trip(paise):
    assert to_paise(to_rupees(paise)) == paise


@pytest.mark.parametrize(
    ("numerator", "denominator", "expected"),
    [
        (5, 10, 1),
        (15, 10, 2),
        (25, 10, 3),
        (14, 10, 1),
        (16, 10, 2),
        (-5, 10, -1),
        (-15, 10, -2),
        (-14, 10, -1),
        (-16, 10, -2),
        (5, -10, -1),
        (-5, -10, 1),
        (0, 7, 0),
        (1, 3, 0),
        (2, 3, 1),
        (-2, 3, -1),
        (7, 1, 7),
    ],
)
def test_div_round_half_up_rounds_ties_away_from_zero(numerator, denominator, expected):
    assert div_round_half_up(numerator, denominator) == expected


def test_div_round_half_up_by_zero():
    with pytest.raises(ZeroDivisionError):
        div_round_half_up(1, 0)


@given(st.integers(-(10**30), 10**30), st.integers(-(10**12), 10**12).filter(bool))
def test_div_round_half_up_matches_decimal_half_up(numerator, denominator):
    with localcontext() as ctx:
        ctx.prec = 80
        expected = (Decimal(numerator) / Decimal(denominator)).quantize(
            Decimal(1), rounding=ROUND_HALF_UP
        )
    assert div_round_half_up(numerator, denominator) == int(expected)


@pytest.mark.parametrize(
    ("paise", "percent", "expected"),
    [
        (117_500, "18", 21_150),  # GST on a Rs 1,175 fee
        (25, "18", 5),  # 4.5 paise -> 5: half up
        (3, "18", 1),  # 0.54 -> 1
        (2, "18", 0),  # 0.36 -> 0
        (-25, "18", -5),  # away from zero
        (4, "12.5", 1),  # 0.5 -> 1
        (100, "0", 0),
        (1, "100", 1),
    ],
)
def test_percent_of_rounds_half_up_to_the_paisa(paise, percent, expected):
    assert percent_of(paise, Decimal(percent)) == expected


@given(st.integers(-(10**26) + 1, 10**26 - 1))
def test_hundredths_by_multiplication_are_scaleb_to_the_exponent(paise):
    # to_rupees multiplies by 0.01 instead of scaleb(-2): the same Decimal, exponent included.
    assert repr(to_rupees(paise)) == repr(Decimal(paise).scaleb(-2))


@given(st.integers(-(10**12), 10**12), st.integers(0, 2))
def test_to_paise_of_whole_and_fractional_rupees(units, places):
    value = Decimal(units).scaleb(-places)
    assert to_paise(value) == units * 10 ** (2 - places)


@given(st.integers(0, 10**30), st.integers(1, 10**30))
def test_half_up_division_fast_path(numerator, denominator):
    quotient, remainder = divmod(numerator, denominator)
    assert div_round_half_up(numerator, denominator) == quotient + (2 * remainder >= denominator)
