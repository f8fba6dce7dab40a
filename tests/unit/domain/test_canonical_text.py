"""dataclass_repr gives exactly repr's text (the inputs hash depends on it)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from adapters.demo.portfolio import generate_applicants
from domain.applicant import EmploymentType, LoanRequest
from domain.behavior.history import OfferHistorySummary
from domain.canonical_text import dataclass_repr


def test_the_demo_applicants_inputs_as_repr_writes_them():
    for applicant in generate_applicants(300):
        for value in (applicant.credit, applicant.behavior, applicant.personal):
            assert dataclass_repr(value) == repr(value)


@pytest.mark.parametrize("request_", [LoanRequest(), LoanRequest(Decimal("150000.50"), 36),
                                      LoanRequest(None, 12)])
def test_requests_and_history(request_):
    assert dataclass_repr(request_) == repr(request_)
    assert dataclass_repr(OfferHistorySummary()) == repr(OfferHistorySummary())


def test_a_plain_value_where_an_enum_is_declared_is_still_reprd():
    credit = next(iter(generate_applicants(1))).credit
    odd = replace(credit, employment_type="SALARIED")  # a str, not the member
    assert dataclass_repr(odd) == repr(odd)
    assert "'SALARIED'" in dataclass_repr(odd)
    assert dataclass_repr(replace(credit, employment_type=EmploymentType.SALARIED)) == repr(
        replace(credit, employment_type=EmploymentType.SALARIED))


def test_a_class_with_its_own_repr_keeps_it():
    @dataclass(frozen=True)
    class Custom:
        x: int

        def __repr__(self) -> str:
            return "custom"

    @dataclass(frozen=True, repr=False)
    class Plain:
        x: int

    assert dataclass_repr(Custom(1)) == "custom"
    plain = Plain(1)
    assert dataclass_repr(plain) == repr(plain)  # object's repr: the generated one is off


@st.composite
def histories(draw):
    counts = draw(st.lists(st.integers(0, 10**6), min_size=3, max_size=3))
    answers = sum(counts) + draw(st.integers(0, 1000))
    moment = draw(st.none() | st.datetimes(
        min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1),
        timezones=st.sampled_from([UTC, timezone(timedelta(hours=5, minutes=30))])))
    return OfferHistorySummary(draw(st.integers(0, 10**7)), answers, *counts, moment)


@given(histories())
def test_offer_histories_as_repr_writes_them(history):
    """The inputs hash of every repeat customer's answer includes this text."""
    assert dataclass_repr(history) == repr(history)
