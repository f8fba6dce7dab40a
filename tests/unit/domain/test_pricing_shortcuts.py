"""The pricing core's shortcuts give the same numbers as the plain way (issue 8, performance).

Each shortcut is used only where it provably computes the same floats or Decimals; these tests
compare it with the straightforward computation it replaces, on random inputs.
"""

from __future__ import annotations

import itertools
from dataclasses import replace
from datetime import datetime
from decimal import Decimal

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from scipy.special import expit, wrightomega

import domain.optimization.pricing as pricing
from adapters.demo.portfolio import generate_applicants
from domain.applicant import LoanRequest
from domain.optimization.price_response import optimal_rate, take_up
from domain.policy.model import PricingPolicy

APPLICANTS = 150


def _decimals(low: int, high: int, places: int) -> st.SearchStrategy[Decimal]:
    return st.integers(low, high).map(lambda n: Decimal(n).scaleb(-places))


@settings(max_examples=400)
@example(rupees=1, percent=Decimal(50), minimum=Decimal(0), maximum=Decimal(10**6),
         waiver=Decimal(0))  # exactly half a rupee: half up
@example(rupees=3, percent=Decimal(100), minimum=Decimal(0), maximum=Decimal(10**6),
         waiver=Decimal(50))  # 1.5 rupees after the waiver
@example(rupees=10**9, percent=Decimal(1), minimum=Decimal(999), maximum=Decimal(999),
         waiver=Decimal("12.5"))  # clamped to a maximum equal to the minimum
@given(rupees=st.integers(1, 10**10 - 1), percent=_decimals(0, 10_000, 3),
       minimum=_decimals(0, 10**7, 2), maximum=_decimals(0, 10**7, 2),
       waiver=_decimals(0, 10_000, 2))
def test_integer_fee_equals_the_decimal_fee(policy: PricingPolicy, rupees, percent,
                                            minimum, maximum, waiver):
    band = replace(policy.bands[0], fee_percent=percent)
    policy = replace(policy, fees=replace(policy.fees, minimum=minimum,
                                                  maximum=maximum))
    terms = pricing._fee_terms(policy, band, waiver)
    assert terms is not None
    expected = pricing._fee(policy, band, Decimal(rupees), waiver)
    assert pricing._integer_fee(terms, rupees) == expected
    assert str(Decimal(pricing._integer_fee(terms, rupees))) == str(expected)


def test_fee_terms_with_too_many_digits_go_the_decimal_way(policy: PricingPolicy):
    band = replace(policy.bands[0], fee_percent=Decimal("1.234567891"))
    assert pricing._fee_terms(policy, band, Decimal(0)) is None


def _families(policy: PricingPolicy, request: LoanRequest, now: datetime) -> list[tuple]:
    """(ctx, candidates) of real applicants' price_family calls, captured from the engine."""
    import domain.offer_engine as engine

    captured: list[tuple] = []
    original = engine.price_family

    def capture(ctx, candidates):
        captured.append((ctx, candidates))
        return original(ctx, candidates)

    counter = itertools.count()
    engine.price_family = capture
    try:
        for applicant in generate_applicants(APPLICANTS):
            engine.generate_offer_set(policy, applicant, request, now,
                                      lambda: f"id-{next(counter)}")
    finally:
        engine.price_family = original
    return captured


def _same(a, b) -> bool:
    """Equal to the bit (floats by their bytes: -0.0 and NaNs count), Decimals by repr."""
    if isinstance(a, np.ndarray):
        return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()
    return repr(a) == repr(b)


@pytest.mark.parametrize("request_", [LoanRequest(), LoanRequest(Decimal(300_000), 36)],
                         ids=["grid", "request"])
def test_skipping_the_discount_cap_changes_no_row(policy: PricingPolicy, now: datetime,
                                                  request_, monkeypatch):
    assert pricing._discount_cap_cannot_bind(policy)  # else this proves nothing
    families = _families(policy, request_, now)
    assert families
    fast = [pricing.price_family(*f) for f in families]
    monkeypatch.setattr(pricing, "_discount_cap_cannot_bind", lambda policy: False)
    plain = [pricing.price_family(*f) for f in families]
    for a, b in zip(fast, plain, strict=True):
        for name in a.__dataclass_fields__:
            assert _same(getattr(a, name), getattr(b, name)), name


def test_the_discount_cap_can_bind_when_discounts_exceed_it(policy: PricingPolicy):
    tighter = replace(policy, rates=replace(policy.rates,
                                                    max_total_discount_bps=49))
    assert not pricing._discount_cap_cannot_bind(tighter)


@settings(max_examples=200)
@given(st.lists(st.floats(-0.5, 1.5), min_size=1, max_size=40),
       st.floats(-12, 4), st.floats(0.5, 80))
def test_negated_forms_give_the_same_floats(rates, intercept, slope):
    r = np.array(rates)
    for a in (intercept, np.full(len(rates), intercept)):
        assert _same(take_up(r, a, slope), expit(-(a + slope * r)))
        plain = r + (1.0 + np.real(wrightomega(-(1.0 + a + slope * r)))) / slope
        assert _same(optimal_rate(r, a, slope), plain)


def _same_factors(shared, plain) -> bool:
    return all(np.array_equal(getattr(shared, name), getattr(plain, name))
               for name in ("tenures", "interest_exposure", "funding_exposure",
                            "expected_loss_exposure", "stacked"))


_TENURES = st.lists(st.integers(1, 120), min_size=1, max_size=8, unique=True).map(sorted)


@settings(max_examples=300)
@example(pd=0.0, tenures=[12, 24], reference_rate=0.0, discount_rate=0.12)
@example(pd=1e-300, tenures=[6], reference_rate=1e-13, discount_rate=0.0)  # straight-line
@given(pd=st.floats(0.0, 1.0 - 1e-9), tenures=_TENURES,
       reference_rate=st.floats(0.0, 0.5), discount_rate=st.floats(0.0, 0.3))
def test_shared_exposure_factors_equal_the_plain_ones(pd, tenures, reference_rate,
                                                      discount_rate):
    from domain.optimization.economics import exposure_factors, shared_exposure_factors

    plain = exposure_factors(pd, tenures, reference_rate, discount_rate)
    first = shared_exposure_factors(pd, tuple(tenures), reference_rate, discount_rate)
    again = shared_exposure_factors(pd, tuple(tenures), reference_rate, discount_rate)
    assert again is first  # computed once
    assert _same_factors(first, plain)
    with pytest.raises(ValueError, match="read-only"):
        first.stacked[0, 0] = 1.0  # shared: nobody may change them


def test_signed_zeros_share_an_entry_with_the_same_factors():
    """Float keys treat -0.0 as 0.0; the factors of both are the same, so sharing is safe."""
    from domain.optimization.economics import exposure_factors, shared_exposure_factors

    for pd, rate in itertools.product((0.0, -0.0), (0.0, -0.0)):
        shared = shared_exposure_factors(pd, (12, 36), rate, 0.1)
        assert _same_factors(shared, exposure_factors(pd, [12, 36], rate, 0.1))
        assert _same_factors(shared, exposure_factors(0.0, [12, 36], 0.0, 0.1))


def test_priced_families_are_those_of_the_plain_exposure_factors(policy: PricingPolicy,
                                                                 monkeypatch):
    """Whole families priced with the shared factors and with fresh ones for every family."""
    from domain.offer_engine import generate_offer_set
    from domain.optimization import economics

    def priced(applicants):
        ids = itertools.count()
        return [generate_offer_set(policy, a, request, datetime(2026, 1, 5),
                                   lambda: f"id-{next(ids)}")
                for a in applicants for request in (LoanRequest(),
                                                    LoanRequest(Decimal(300_000), 36))]

    applicants = list(generate_applicants(APPLICANTS))
    shared = priced(applicants)
    monkeypatch.setattr(pricing, "shared_exposure_factors",
                        lambda pd, tenures, rate, d: economics.exposure_factors(
                            pd, list(tenures), rate, d))
    assert priced(applicants) == shared
