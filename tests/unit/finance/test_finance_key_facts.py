from decimal import Decimal

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from domain.finance.apr import apr_percent
from domain.finance.key_facts import GST_RATE_DEFAULT, compute_key_facts


def test_the_cli_example():
    # Rs 47,000 at 21 % for 24 months, Rs 1,175 fee plus 18 % GST
    facts = compute_key_facts(4_700_000, Decimal("21"), 24, 117_500)
    assert facts.gst_on_fee == 21_150
    assert facts.net_disbursal == 4_561_350
    assert facts.emi == 241_513
    assert facts.schedule.last_instalment == 241_502
    assert facts.total_interest == 1_096_301
    assert facts.total_payable == 5_796_301 == facts.principal + facts.total_interest
    assert facts.apr_percent == Decimal("24.15")
    assert facts.schedule.tenure == facts.tenure == 24


def test_other_charges_and_gst_rate_reduce_the_disbursal_and_raise_the_apr():
    plain = compute_key_facts(4_700_000, Decimal("21"), 24, 117_500)
    charged = compute_key_facts(
        4_700_000,
        Decimal("21"),
        24,
        117_500,
        gst_rate_percent=Decimal("28"),
        other_charges_paise=50_000,
    )
    assert charged.gst_on_fee == 32_900
    assert charged.net_disbursal == 4_700_000 - 117_500 - 32_900 - 50_000
    assert charged.apr_percent > plain.apr_percent
    assert charged.schedule == plain.schedule


def test_no_fee_means_apr_equals_roi():
    facts = compute_key_facts(10_000_000, Decimal("12"), 12, 0)
    assert facts.gst_on_fee == 0 and facts.net_disbursal == 10_000_000
    assert facts.apr_percent == Decimal("12.00")


def test_default_gst_rate_is_18_percent():
    assert Decimal("18") == GST_RATE_DEFAULT


@given(
    st.integers(1_000_000, 10**9),
    st.integers(100, 3_600).map(lambda bp: Decimal(bp) / 100),
    st.integers(1, 84),
    st.integers(0, 500).map(lambda bp: Decimal(bp) / 10_000),
    st.integers(0, 10**5),
)
def test_key_facts_are_consistent(principal, roi, n, fee_share, other):
    fee = int(principal * fee_share)
    facts = compute_key_facts(principal, roi, n, fee, other_charges_paise=other)
    assume(facts.net_disbursal > 0)
    assert facts.net_disbursal == principal - fee - facts.gst_on_fee - other
    assert facts.total_payable == sum(facts.schedule.instalments)
    assert facts.total_interest == facts.total_payable - principal
    assert facts.emi == facts.schedule.emi
    assert facts.apr_percent == apr_percent(facts.net_disbursal, facts.schedule.instalments)
    assert facts.apr_percent >= roi


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"principal_paise": 0}, "principal must be positive"),
        ({"principal_paise": -100}, "principal must be positive"),
        ({"tenure_months": 0}, "tenure must be 1 to 600"),
        ({"tenure_months": 601}, "tenure must be 1 to 600"),
        ({"roi_percent": Decimal("-0.01")}, "roi must be between 0 and 100"),
        ({"roi_percent": Decimal("100.01")}, "roi must be between 0 and 100"),
        ({"roi_percent": Decimal("NaN")}, "not a finite number"),
        ({"processing_fee_paise": -1}, "processing fee must not be negative"),
        ({"other_charges_paise": -1}, "other charges must not be negative"),
        ({"gst_rate_percent": Decimal("-1")}, "GST rate"),
        ({"processing_fee_paise": 4_000_000}, "net disbursal must be positive"),
        ({"other_charges_paise": 4_700_000}, "net disbursal must be positive"),
    ],
)
def test_invalid_terms_are_refused_with_a_clear_message(kwargs, message):
    terms = {
        "principal_paise": 4_700_000,
        "roi_percent": Decimal("21"),
        "tenure_months": 24,
        "processing_fee_paise": 117_500,
    } | kwargs
    with pytest.raises(ValueError, match=message):
        compute_key_facts(**terms)


def test_money_must_be_integer_paise():
    with pytest.raises(TypeError):
        compute_key_facts(47000.0, Decimal("21"), 24, 0)
