"""Fixtures for the pricing-core tests: the default policy, a fixed clock, applicant builders.

Everything here is session scoped and pure, so hypothesis tests may use it freely.
"""

from __future__ import annotations

import itertools
import sys
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from adapters.demo.portfolio import generate_applicants
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
from domain.policy.model import PricingPolicy
from domain.policy.parsing import parse_policy_toml

PROJECT_ROOT = Path(__file__).resolve().parents[3]
if str(PROJECT_ROOT) not in sys.path:  # `tests.strategies` also under a bare `pytest` run
    sys.path.insert(0, str(PROJECT_ROOT))

from tests.strategies import REFERENCE_DAY  # noqa: E402

POLICY_FILE = PROJECT_ROOT / "config" / "policies" / "default.toml"

#: Monday 2026-01-05 10:00 UTC: the clock of every domain test.
NOW = datetime.combine(REFERENCE_DAY, datetime.min.time(), tzinfo=UTC).replace(hour=10)

#: A prime salaried applicant's credit profile (hand-scored in test_scorecard: 651 points).
GOOD_CREDIT = CreditProfile(
    monthly_income=Decimal("80000"),
    existing_emi=Decimal("5000"),
    employment_type=EmploymentType.SALARIED,
    employer_category=EmployerCategory.CAT_B,
    months_in_current_job=48,
    credit_history_months=96,
    bureau_score=780,
    delinquencies_24m=0,
    enquiries_6m=1,
    credit_utilisation=0.20,
    residence_type=ResidenceType.OWNED,
)


def born_aged(age: int, on: date = REFERENCE_DAY) -> date:
    """A birth date that makes the applicant exactly ``age`` (birthday a month ago) on ``on``."""
    return date(on.year - age - (1 if on.month == 1 else 0), (on.month - 2) % 12 + 1, 1)


def make_credit(**overrides: Any) -> CreditProfile:
    """``GOOD_CREDIT`` with fields replaced (money may be given as int)."""
    for key in ("monthly_income", "existing_emi"):
        if key in overrides and not isinstance(overrides[key], Decimal):
            overrides[key] = Decimal(str(overrides[key]))
    return replace(GOOD_CREDIT, **overrides)


def make_applicant(
    *,
    age: int = 35,
    credit: CreditProfile | None = None,
    behavior: BehaviorMetrics | None = None,
    protected: ProtectedAttributes | None = None,
    user_id: str = "user-test-1",
    **credit_overrides: Any,
) -> Applicant:
    """An applicant of ``age`` on the test date; ``credit_overrides`` patch ``GOOD_CREDIT``."""
    base = credit if credit is not None else GOOD_CREDIT
    if credit_overrides:
        base = replace(base, **{k: Decimal(str(v)) if k in ("monthly_income", "existing_emi")
                                else v for k, v in credit_overrides.items()})
    return Applicant(
        user_id=user_id,
        personal=PersonalDetails(full_name="Asha Rao", date_of_birth=born_aged(age)),
        credit=base,
        behavior=behavior if behavior is not None else BehaviorMetrics(),
        protected=protected if protected is not None else ProtectedAttributes(),
    )


def id_factory(prefix: str = "offer") -> Callable[[], str]:
    """Deterministic offer ids: ``offer-1``, ``offer-2``, ..."""
    counter = itertools.count(1)
    return lambda: f"{prefix}-{next(counter)}"


@pytest.fixture(scope="session")
def policy() -> PricingPolicy:
    return parse_policy_toml(POLICY_FILE.read_text())


@pytest.fixture(scope="session")
def policy_text() -> str:
    return POLICY_FILE.read_text()


@pytest.fixture(scope="session")
def now() -> datetime:
    return NOW


@pytest.fixture(scope="session")
def new_ids() -> Callable[[], Callable[[], str]]:
    """A factory of deterministic id generators (call it once per offer set)."""
    return id_factory


@pytest.fixture(scope="session")
def applicant_builder() -> Callable[..., Applicant]:
    return make_applicant


@pytest.fixture(scope="session")
def credit_builder() -> Callable[..., CreditProfile]:
    return make_credit


@pytest.fixture(scope="session")
def demo_applicants() -> list[Applicant]:
    """The first 500 applicants of the deterministic demo portfolio."""
    return list(generate_applicants(500))


def iter_demo(count: int) -> Iterator[Applicant]:
    return generate_applicants(count)
