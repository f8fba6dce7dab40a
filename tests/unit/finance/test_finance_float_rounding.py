"""The string-free roundings of floats give exactly what the decimal-string way gives."""

from __future__ import annotations

import math
import random
from decimal import Decimal

from hypothesis import example, given
from hypothesis import strategies as st

from domain.finance.money import float_to_cents
from domain.risk.assessment import floor_float_to_step, floor_to_step

floats = st.floats(allow_nan=False, allow_infinity=False, min_value=-1e12, max_value=1e12)
steps = st.sampled_from([Decimal("1000"), Decimal("1"), Decimal("500"), Decimal("0.5"),
                         Decimal("1E+3"), Decimal("25000")])


def near(value: float, ulps: int) -> float:
    for _ in range(abs(ulps)):
        value = math.nextafter(value, math.inf if ulps > 0 else -math.inf)
    return value


@given(floats)
@example(2.675)
@example(0.125)
@example(-0.001)
@example(-0.005)
@example(1e-320)
@example(123456.785)
def test_float_to_cents_is_the_repr_quantized(value):
    expected = Decimal(repr(value)).quantize(Decimal("0.01"))
    got = float_to_cents(value)
    assert str(got) == str(expected)


@given(floats, steps)
@example(230000.0, Decimal("1000"))
@example(229999.99999999997, Decimal("1000"))
@example(230000.00000000003, Decimal("1000"))
@example(0.0, Decimal("1000"))
@example(-500.0, Decimal("1000"))
def test_floor_float_to_step_is_the_repr_floored(value, step):
    assert str(floor_float_to_step(value, step)) == str(floor_to_step(Decimal(repr(value)), step))


def test_values_next_to_every_boundary():
    rng = random.Random(8)
    for _ in range(5_000):
        whole = rng.randrange(-10**8, 10**8)
        for ulps in (-3, -1, 0, 1, 3):
            cents_edge = near((whole + 0.5) / 100, ulps)
            assert str(float_to_cents(cents_edge)) == str(
                Decimal(repr(cents_edge)).quantize(Decimal("0.01")))
            step_edge = near(whole * 1000.0, ulps)
            assert str(floor_float_to_step(step_edge, Decimal("1000"))) == str(
                floor_to_step(Decimal(repr(step_edge)), Decimal("1000")))
