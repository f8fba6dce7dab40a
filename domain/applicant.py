"""The applicant as the pricing core sees them.

Pricing reads only :class:`CreditProfile` (credit and affordability facts) and
:class:`~domain.behavior.metrics.BehaviorMetrics`. Protected attributes live in their own
value object that no pricing function accepts, so they cannot reach a price by construction
(pricing-science section 5; RBI Fair Practices Code). Age is used only as an eligibility rule
(age at maturity limits the tenure), never in the rate.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from enum import StrEnum

from domain.behavior.metrics import BehaviorMetrics


class EmploymentType(StrEnum):
    SALARIED = "SALARIED"
    SELF_EMPLOYED = "SELF_EMPLOYED"


class EmployerCategory(StrEnum):
    """Lender's employer grading for salaried applicants (CAT_A: large listed or government)."""

    CAT_A = "CAT_A"
    CAT_B = "CAT_B"
    CAT_C = "CAT_C"
    UNRATED = "UNRATED"


class ResidenceType(StrEnum):
    OWNED = "OWNED"
    RENTED = "RENTED"
    FAMILY = "FAMILY"
    COMPANY = "COMPANY"


@dataclass(frozen=True, slots=True)
class CreditProfile:
    """Credit-bureau and affordability facts: everything the scorecard may score.

    Money is INR as ``Decimal``. ``bureau_score`` is ``None`` for a new-to-credit
    (thin-file) applicant.
    """

    monthly_income: Decimal
    existing_emi: Decimal
    employment_type: EmploymentType
    employer_category: EmployerCategory
    months_in_current_job: int
    credit_history_months: int
    bureau_score: int | None
    delinquencies_24m: int
    enquiries_6m: int
    credit_utilisation: float
    residence_type: ResidenceType = ResidenceType.RENTED
    has_write_off: bool = False


@dataclass(frozen=True, slots=True)
class ProtectedAttributes:
    """Attributes that must never influence a price or a decision (fair lending).

    Kept only because KYC and fair-lending monitoring need them; no pricing function takes them.
    """

    gender: str | None = None
    marital_status: str | None = None
    religion: str | None = None
    caste: str | None = None


@dataclass(frozen=True, slots=True)
class PersonalDetails:
    """Personally identifiable information (encrypted at rest by the persistence adapter)."""

    full_name: str
    date_of_birth: date
    phone: str | None = None
    email: str | None = None
    pan: str | None = None
    address: str | None = None


@dataclass(frozen=True, slots=True)
class Applicant:
    user_id: str
    personal: PersonalDetails
    credit: CreditProfile
    behavior: BehaviorMetrics = field(default_factory=BehaviorMetrics)
    protected: ProtectedAttributes = field(default_factory=ProtectedAttributes)

    def age_on(self, day: date) -> int:
        born = self.personal.date_of_birth
        return day.year - born.year - ((day.month, day.day) < (born.month, born.day))


@dataclass(frozen=True, slots=True)
class LoanRequest:
    """What the customer asked for; both fields optional (the policy grid fills the gaps)."""

    requested_amount: Decimal | None = None
    requested_tenure: int | None = None
