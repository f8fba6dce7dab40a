"""The figures of a Key Facts Statement (KFS) for a level-EMI loan.

RBI circular RBI/2024-25/18 (Key Facts Statement for loans and advances, from 1 Oct 2024):
the KFS shows the loan amount, rate, tenure, instalment, every fee, the net disbursal, the
amortisation schedule and the annual percentage rate (APR) with its computation.

- ``gst_on_fee`` = GST (18 % by default) on the processing fee, rounded half up to the paisa.
- ``net_disbursal`` = principal - processing fee - GST on it - other upfront charges.
- ``total_payable`` = the sum of the instalments = principal + total interest. Fees are not in
  it: they are shown separately and enter the APR through the net disbursal.
- ``apr_percent`` = :func:`domain.finance.apr.apr_percent` of the net disbursal and instalments.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from domain.finance.apr import level_apr_percent
from domain.finance.money import Paise, as_fraction, percent_of
from domain.finance.schedule import AmortisationSchedule, build_schedule, schedule_totals
from domain.slotted import fast_init

GST_RATE_DEFAULT = Decimal("18")
MAX_TENURE_MONTHS = 600


@fast_init
@dataclass(frozen=True, slots=True)
class KeyFacts:
    """KFS figures; money in paise, rates in percent a year."""

    principal: Paise
    roi_percent: Decimal
    tenure: int
    processing_fee: Paise
    gst_on_fee: Paise
    other_charges: Paise
    net_disbursal: Paise
    emi: Paise
    schedule: AmortisationSchedule
    total_interest: Paise
    total_payable: Paise
    apr_percent: Decimal


@fast_init
@dataclass(frozen=True, slots=True)
class KeyFigures:
    """The KFS figures an offer carries: :class:`KeyFacts` without the schedule (paise)."""

    processing_fee: Paise
    gst_on_fee: Paise
    net_disbursal: Paise
    emi: Paise
    total_interest: Paise
    total_payable: Paise
    apr_percent: Decimal


def compute_key_facts(
    principal_paise: Paise,
    roi_percent: Decimal,
    tenure_months: int,
    processing_fee_paise: Paise,
    gst_rate_percent: Decimal = GST_RATE_DEFAULT,
    other_charges_paise: Paise = 0,
) -> KeyFacts:
    """All KFS figures for one loan; ``ValueError`` with a plain message for invalid terms."""
    gst, net = _disbursal(principal_paise, roi_percent, tenure_months, processing_fee_paise,
                          gst_rate_percent, other_charges_paise)
    schedule = build_schedule(principal_paise, roi_percent, tenure_months)
    total_interest = schedule.total_interest
    return KeyFacts(
        principal=principal_paise,
        roi_percent=roi_percent,
        tenure=tenure_months,
        processing_fee=processing_fee_paise,
        gst_on_fee=gst,
        other_charges=other_charges_paise,
        net_disbursal=net,
        emi=schedule.emi,
        schedule=schedule,
        total_interest=total_interest,
        total_payable=principal_paise + total_interest,
        apr_percent=level_apr_percent(net, schedule.emi, tenure_months, schedule.last_instalment),
    )


def compute_key_figures(
    principal_paise: Paise,
    roi_percent: Decimal,
    tenure_months: int,
    processing_fee_paise: Paise,
    gst_rate_percent: Decimal = GST_RATE_DEFAULT,
    other_charges_paise: Paise = 0,
) -> KeyFigures:
    """:func:`compute_key_facts`' figures without the schedule's months (all an offer carries):
    the same validation, errors and values, with :func:`schedule_totals` for the schedule."""
    gst, net = _disbursal(principal_paise, roi_percent, tenure_months, processing_fee_paise,
                          gst_rate_percent, other_charges_paise)
    emi, total_interest, last = schedule_totals(principal_paise, roi_percent, tenure_months)
    return KeyFigures(  # positional, in field order (it runs for every offer)
        processing_fee_paise,                                # processing_fee
        gst,                                                 # gst_on_fee
        net,                                                 # net_disbursal
        emi,                                                 # emi
        total_interest,                                      # total_interest
        principal_paise + total_interest,                    # total_payable
        level_apr_percent(net, emi, tenure_months, last),    # apr_percent
    )


def _disbursal(principal: Paise, roi: Decimal, tenure: int, fee: Paise, gst_rate: Decimal,
               other: Paise) -> tuple[Paise, Paise]:
    """Validates the terms; returns (GST on the fee, net disbursal)."""
    _validate(principal, roi, tenure, fee, gst_rate, other)
    gst = percent_of(fee, gst_rate)
    net = principal - fee - gst - other
    if net <= 0:
        raise ValueError("fees and charges exceed the principal: net disbursal must be positive")
    return gst, net


def _validate(
    principal: int, roi: Decimal, tenure: int, fee: int, gst_rate: Decimal, other: int
) -> None:
    if not type(principal) is type(fee) is type(other) is int:  # plain ints: nothing to check
        for name, amount in (
            ("principal", principal),
            ("processing fee", fee),
            ("other charges", other),
        ):
            if type(amount) is not int and (not isinstance(amount, int) or isinstance(amount, bool)):
                raise TypeError(f"{name} must be an int number of paise, got {amount!r}")
    if principal <= 0:
        raise ValueError(f"principal must be positive, got {principal} paise")
    if not isinstance(tenure, int) or not 1 <= tenure <= MAX_TENURE_MONTHS:
        raise ValueError(f"tenure must be 1 to {MAX_TENURE_MONTHS} months, got {tenure}")
    if not _percent_in_range(roi):
        raise ValueError(f"roi must be between 0 and 100 percent, got {roi}")
    if not _percent_in_range(gst_rate):
        raise ValueError(f"GST rate must be between 0 and 100 percent, got {gst_rate}")
    if fee < 0:
        raise ValueError(f"processing fee must not be negative, got {fee} paise")
    if other < 0:
        raise ValueError(f"other charges must not be negative, got {other} paise")


def _percent_in_range(value: Decimal) -> bool:
    """0 <= value <= 100, exactly. A finite Decimal compares exactly with integers, without the
    Fraction that other inputs (str, ...) are turned into; this runs for every offer."""
    if type(value) is Decimal and value in _PERCENTS_IN_RANGE:  # the GST rate, offered rates
        return True
    if type(value) is Decimal and value.is_finite():
        in_range = 0 <= value <= 100
        if in_range and len(_PERCENTS_IN_RANGE) < _MAX_REMEMBERED:
            _PERCENTS_IN_RANGE.add(value)
        return in_range
    return 0 <= as_fraction(value) <= 100


#: Finite Decimals already found within [0, 100] (a Decimal is in the set only if equal to
#: one found in range, which is then in range too); bounded, a cache of repeated values.
_PERCENTS_IN_RANGE: set[Decimal] = set()
_MAX_REMEMBERED = 4096
