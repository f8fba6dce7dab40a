"""Applicant records from lender systems: one flat mapping per applicant, validated field by field.

The same rules serve ``loan-offers import`` (CSV cells arrive as text, JSON Lines as JSON
values) and ``Mutation.upsertApplicant``. Every problem of a record is reported, each naming its
field, instead of stopping at the first.

Behaviour counters are optional: a record that leaves some out keeps the stored values of an
existing applicant (or the new-customer defaults), so importing credit data never resets what
lender systems reported through ``recordBehaviorEvent``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from datetime import date
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Any

from application.errors import InvalidInput
from domain.applicant import (
    Applicant,
    CreditProfile,
    EmployerCategory,
    EmploymentType,
    PersonalDetails,
    ProtectedAttributes,
    ResidenceType,
)
from domain.behavior.metrics import BehaviorMetrics

USER_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:@-]{0,63}")
PAN = re.compile(r"[A-Z]{5}[0-9]{4}[A-Z]")
PHONE = re.compile(r"\+?[0-9][0-9 -]{6,18}[0-9]")
EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
MAX_MONEY = Decimal("100000000")  # INR 10 crore a month: beyond it, a unit error (paise?)
MAX_COUNT = 1_000_000
TRUE, FALSE = {"true", "1", "yes", "y", "t"}, {"false", "0", "no", "n", "f"}

BEHAVIOR_FIELDS = tuple(f.name for f in fields(BehaviorMetrics))
PERSONAL_FIELDS = ("full_name", "date_of_birth", "phone", "email", "pan", "address")
PROTECTED_FIELDS = tuple(f.name for f in fields(ProtectedAttributes))
CREDIT_FIELDS = tuple(f.name for f in fields(CreditProfile))
ALL_FIELDS = ("user_id", *PERSONAL_FIELDS, *CREDIT_FIELDS, *PROTECTED_FIELDS, *BEHAVIOR_FIELDS)


@dataclass(frozen=True, slots=True)
class FieldError:
    field: str | None
    message: str

    def __str__(self) -> str:
        return f"{self.field}: {self.message}" if self.field else self.message


class InvalidRecord(InvalidInput):
    """A record with one or more invalid fields (``errors``, all of them)."""

    def __init__(self, errors: list[FieldError]) -> None:
        super().__init__("; ".join(str(e) for e in errors),
                         field=next((e.field for e in errors if e.field), None) or "")
        self.errors = tuple(errors)


@dataclass(frozen=True, slots=True)
class ApplicantRecord:
    """A validated record: the applicant, and which behaviour counters it actually set."""

    applicant: Applicant
    behavior_given: Mapping[str, int | None]

    @property
    def user_id(self) -> str:
        return self.applicant.user_id

    def merged_with(self, stored: BehaviorMetrics | None) -> Applicant:
        """The applicant to store: counters the record left out come from ``stored``."""
        base = stored if stored is not None else BehaviorMetrics()
        return replace(self.applicant, behavior=replace(base, **self.behavior_given))


class _Reader:
    def __init__(self, record: Mapping[str, Any]) -> None:
        self.record = record
        self.errors: list[FieldError] = []

    def fail(self, name: str | None, message: str) -> None:
        self.errors.append(FieldError(name, message))

    def raw(self, name: str) -> Any:
        value = self.record.get(name)
        if isinstance(value, str):
            value = value.strip()
            return value if value else None
        return value

    def present(self, name: str) -> bool:
        return self.raw(name) is not None

    def text(self, name: str, required: bool = False, pattern: re.Pattern[str] | None = None,
             max_length: int = 500) -> str | None:
        value = self.raw(name)
        if value is None:
            if required:
                self.fail(name, "is required")
            return None
        if not isinstance(value, str):
            self.fail(name, f"must be text, got {value!r}")
            return None
        if "\x00" in value:  # PostgreSQL cannot store it in text; CSV and JSON Lines can carry it
            self.fail(name, "contains a NUL character (U+0000)")
        elif len(value) > max_length:
            self.fail(name, f"is longer than {max_length} characters")
        elif pattern is not None and not pattern.fullmatch(value):
            self.fail(name, f"is not a valid {name.replace('_', ' ')}: {value!r}")
        return value

    def integer(self, name: str, low: int = 0, high: int = MAX_COUNT, required: bool = True
                ) -> int | None:
        value = self.raw(name)
        if value is None:
            if required:
                self.fail(name, "is required")
            return None
        if isinstance(value, bool):
            self.fail(name, f"must be a whole number, got {value!r}")
            return None
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if isinstance(value, str) and re.fullmatch(r"[+-]?[0-9]+", value):
            value = int(value)
        if not isinstance(value, int):
            self.fail(name, f"must be a whole number, got {value!r}")
            return None
        if not low <= value <= high:
            self.fail(name, f"must be between {low} and {high}, got {value}")
            return None
        return value

    def money(self, name: str) -> Decimal | None:
        value = self.raw(name)
        if value is None:
            self.fail(name, "is required")
            return None
        if isinstance(value, bool) or not isinstance(value, str | int | float | Decimal):
            self.fail(name, f"must be an amount in INR, got {value!r}")
            return None
        try:
            amount = Decimal(repr(value) if isinstance(value, float) else str(value))
        except InvalidOperation:
            self.fail(name, f"must be an amount in INR, got {value!r}")
            return None
        if not amount.is_finite() or amount < 0 or amount > MAX_MONEY:
            self.fail(name, f"must be between 0 and {MAX_MONEY:,}, got {value}")
            return None
        if amount != amount.quantize(Decimal("0.01")):
            self.fail(name, f"has more than 2 decimals: {value}")
            return None
        return amount.quantize(Decimal("0.01"))

    def fraction(self, name: str, high: float) -> float | None:
        value = self.raw(name)
        if value is None:
            self.fail(name, "is required")
            return None
        try:
            number = float(value) if not isinstance(value, bool) else None
        except (TypeError, ValueError):
            number = None
        if number is None or not 0.0 <= number <= high:
            self.fail(name, f"must be a number between 0 and {high}, got {value!r}")
            return None
        return number

    def choice(self, name: str, kind: type[StrEnum], default: StrEnum | None = None
               ) -> Any:
        value = self.raw(name)
        if value is None:
            if default is None:
                self.fail(name, f"is required (one of {', '.join(kind)})")
            return default
        try:
            return kind(str(value).upper())
        except ValueError:
            self.fail(name, f"must be one of {', '.join(kind)}, got {value!r}")
            return default

    def flag(self, name: str) -> bool:
        value = self.raw(name)
        if value is None:
            return False
        if isinstance(value, bool):
            return value
        if str(value).lower() in TRUE:
            return True
        if str(value).lower() in FALSE:
            return False
        self.fail(name, f"must be true or false, got {value!r}")
        return False

    def day(self, name: str, today: date) -> date | None:
        value = self.raw(name)
        if value is None:
            self.fail(name, "is required")
            return None
        if isinstance(value, date):
            born = value
        else:
            try:
                born = date.fromisoformat(str(value))
            except ValueError:
                self.fail(name, f"must be a date YYYY-MM-DD, got {value!r}")
                return None
        if not date(1900, 1, 1) <= born <= today:
            self.fail(name, f"must be between 1900-01-01 and today, got {born}")
            return None
        return born


def parse_applicant_record(record: Mapping[str, Any], today: date) -> ApplicantRecord:
    """Validate one record; raises :class:`InvalidRecord` listing every invalid field."""
    r = _Reader(record)
    unknown = sorted(str(k) for k in record if k not in ALL_FIELDS)
    if unknown:
        r.fail(None, f"unknown fields {unknown}")
    user_id = r.text("user_id", required=True, pattern=USER_ID, max_length=64)
    personal = dict(
        full_name=r.text("full_name", required=True),
        date_of_birth=r.day("date_of_birth", today),
        phone=r.text("phone", pattern=PHONE, max_length=20),
        email=r.text("email", pattern=EMAIL, max_length=254),
        pan=r.text("pan", pattern=PAN, max_length=10),
        address=r.text("address", max_length=1000),
    )
    employment = r.choice("employment_type", EmploymentType)
    credit = dict(
        monthly_income=r.money("monthly_income"),
        existing_emi=r.money("existing_emi"),
        employment_type=employment,
        employer_category=r.choice("employer_category", EmployerCategory,
                                   EmployerCategory.UNRATED),
        months_in_current_job=r.integer("months_in_current_job", 0, 720),
        credit_history_months=r.integer("credit_history_months", 0, 1200),
        bureau_score=r.integer("bureau_score", 300, 900, required=False),
        delinquencies_24m=r.integer("delinquencies_24m", 0, 1000),
        enquiries_6m=r.integer("enquiries_6m", 0, 1000),
        credit_utilisation=r.fraction("credit_utilisation", 5.0),
        residence_type=r.choice("residence_type", ResidenceType, ResidenceType.RENTED),
        has_write_off=r.flag("has_write_off"),
    )
    protected = {name: r.text(name, max_length=64) for name in PROTECTED_FIELDS}
    behavior_given = {
        name: r.integer(name, 0, 36_500 if name == "days_since_last_active" else MAX_COUNT)
        for name in BEHAVIOR_FIELDS if r.present(name)
    }
    if r.errors:
        raise InvalidRecord(r.errors)
    applicant = Applicant(
        user_id=_checked(user_id), personal=PersonalDetails(**_all_set(personal, "phone", "email",
                                                                       "pan", "address")),
        credit=CreditProfile(**_all_set(credit, "bureau_score")),
        behavior=replace(BehaviorMetrics(), **behavior_given),
        protected=ProtectedAttributes(**protected),
    )
    return ApplicantRecord(applicant, behavior_given)


def _checked(value: Any) -> Any:
    assert value is not None  # the reader recorded an error otherwise
    return value


def _all_set(values: dict[str, Any], *optional: str) -> dict[str, Any]:
    missing = [k for k, v in values.items() if v is None and k not in optional]
    assert not missing, missing  # the reader recorded an error for each
    return values

