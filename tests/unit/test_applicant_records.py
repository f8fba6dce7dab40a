"""Applicant records from lender systems: validation of every field, behaviour merging."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from application.applicant_records import InvalidRecord, parse_applicant_record
from domain.applicant import EmployerCategory, EmploymentType, ResidenceType
from domain.behavior.metrics import BehaviorMetrics

TODAY = date(2026, 1, 5)
CSV_ROW = {  # everything as text, as a CSV reader hands it over
    "user_id": "lender-1", "full_name": " Kavya Menon ", "date_of_birth": "1990-04-12",
    "monthly_income": "95000.50", "existing_emi": "0", "employment_type": "salaried",
    "employer_category": "", "months_in_current_job": "40", "credit_history_months": "96",
    "bureau_score": "", "delinquencies_24m": "0", "enquiries_6m": "1",
    "credit_utilisation": "0.22", "has_write_off": "no", "pan": "ABCPM1234K",
    "rate_comparisons_90d": "3", "loans_repaid": "",
}


def errors_of(record: dict) -> dict[str | None, str]:
    with pytest.raises(InvalidRecord) as caught:
        parse_applicant_record(record, TODAY)
    return {e.field: e.message for e in caught.value.errors}


def test_a_text_row_becomes_an_applicant() -> None:
    parsed = parse_applicant_record(CSV_ROW, TODAY)
    a = parsed.applicant
    assert a.user_id == "lender-1" and a.personal.full_name == "Kavya Menon"
    assert a.credit.monthly_income == Decimal("95000.50")
    assert a.credit.employment_type is EmploymentType.SALARIED
    assert a.credit.employer_category is EmployerCategory.UNRATED  # blank: the default
    assert a.credit.residence_type is ResidenceType.RENTED
    assert a.credit.bureau_score is None and a.credit.has_write_off is False
    assert parsed.behavior_given == {"rate_comparisons_90d": 3}


def test_counters_left_out_keep_the_stored_values() -> None:
    parsed = parse_applicant_record(CSV_ROW, TODAY)
    stored = BehaviorMetrics(rate_comparisons_90d=9, loans_repaid=2, app_sessions_30d=4)
    assert parsed.merged_with(stored).behavior == BehaviorMetrics(
        rate_comparisons_90d=3, loans_repaid=2, app_sessions_30d=4)
    assert parsed.merged_with(None).behavior == BehaviorMetrics(rate_comparisons_90d=3)


def test_json_values_are_accepted_too() -> None:
    record = {**CSV_ROW, "monthly_income": 95000.5, "months_in_current_job": 40,
              "has_write_off": True, "bureau_score": 701, "credit_utilisation": 1}
    a = parse_applicant_record(record, TODAY).applicant
    assert a.credit.monthly_income == Decimal("95000.50") and a.credit.has_write_off
    assert a.credit.bureau_score == 701


def test_every_bad_field_is_reported() -> None:
    errors = errors_of({**CSV_ROW, "user_id": "bad id!", "monthly_income": "-1",
                        "existing_emi": "10.001", "employment_type": "PIRATE",
                        "bureau_score": "950", "credit_utilisation": "lots",
                        "date_of_birth": "12/04/1990", "pan": "12345", "email": "nope",
                        "has_write_off": "maybe", "enquiries_6m": "1.5", "colour": "red"})
    assert set(errors) == {"user_id", "monthly_income", "existing_emi", "employment_type",
                           "bureau_score", "credit_utilisation", "date_of_birth", "pan",
                           "email", "has_write_off", "enquiries_6m", None}
    assert "colour" in errors[None]
    assert "between 300 and 900" in errors["bureau_score"]
    assert "2 decimals" in errors["existing_emi"]


def test_required_fields_are_named() -> None:
    errors = errors_of({"user_id": "lender-2"})
    assert {"full_name", "date_of_birth", "monthly_income", "existing_emi", "employment_type",
            "months_in_current_job", "credit_history_months", "delinquencies_24m",
            "enquiries_6m", "credit_utilisation"} <= set(errors)
    assert all(message.startswith("is required") for message in errors.values())


@pytest.mark.parametrize("born", ["2026-01-06", "1899-12-31"])
def test_impossible_birth_dates_are_refused(born: str) -> None:
    assert "date_of_birth" in errors_of({**CSV_ROW, "date_of_birth": born})


def test_booleans_are_not_numbers() -> None:
    assert "loans_repaid" in errors_of({**CSV_ROW, "loans_repaid": True})


def test_nul_characters_are_refused_in_any_text_field() -> None:
    """PostgreSQL refuses U+0000 in text columns; a CSV cell or JSON value can carry one."""
    errors = errors_of({**CSV_ROW, "full_name": "Kavya\x00", "address": "\x00", "gender": "f\x00"})
    assert set(errors) == {"full_name", "address", "gender"}
    assert all("NUL" in message for message in errors.values())
