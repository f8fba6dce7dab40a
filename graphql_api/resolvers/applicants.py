"""Query.applicant and Mutation.upsertApplicant: applicant records for lender systems.

Protected attributes (gender, marital status, religion, caste) may be written for KYC and
fair-lending monitoring but are never returned: nothing downstream needs them.
"""

from __future__ import annotations

from datetime import date, datetime
from enum import Enum
from typing import Any

import strawberry
from strawberry.types import Info

from application.applicant_records import BEHAVIOR_FIELDS
from application.use_cases.offer_history import ApplicantView
from domain.applicant import EmployerCategory as DomainEmployerCategory
from domain.applicant import EmploymentType as DomainEmploymentType
from domain.applicant import ResidenceType as DomainResidenceType
from graphql_api.context import GraphQLContext
from graphql_api.errors import call
from graphql_api.types import money

EmploymentType = strawberry.enum(
    Enum("EmploymentType", {m.name: m.value for m in DomainEmploymentType}))
EmployerCategory = strawberry.enum(
    Enum("EmployerCategory", {m.name: m.value for m in DomainEmployerCategory}),
    description="Lender's employer grading for salaried applicants (CAT_A: large listed or "
                "government)")
ResidenceType = strawberry.enum(
    Enum("ResidenceType", {m.name: m.value for m in DomainResidenceType}))


@strawberry.type
class PersonalDetails:
    full_name: str
    date_of_birth: date
    phone: str | None
    email: str | None
    pan: str | None
    address: str | None


@strawberry.type(description="Credit-bureau and affordability facts the scorecard reads.")
class CreditProfile:
    monthly_income: float = strawberry.field(description="INR, net")
    existing_emi: float = strawberry.field(description="INR a month")
    employment_type: EmploymentType  # type: ignore[valid-type]
    employer_category: EmployerCategory  # type: ignore[valid-type]
    months_in_current_job: int
    credit_history_months: int
    bureau_score: int | None = strawberry.field(description="null: new to credit (thin file)")
    delinquencies_24m: int
    enquiries_6m: int
    credit_utilisation: float
    residence_type: ResidenceType  # type: ignore[valid-type]
    has_write_off: bool


@strawberry.type(description="Behaviour counters reported by lender systems.")
class BehaviorMetrics:
    offers_viewed_90d: int
    rate_comparisons_90d: int
    offers_declined: int
    offers_accepted: int
    app_sessions_30d: int
    days_since_last_active: int | None
    loans_repaid: int
    products_held: int


@strawberry.type(description="The customer's offer history with us over the past year, counted "
                             "per answer (an answer carries up to five offers).")
class OfferHistorySummary:
    offers_seen: int
    answers: int
    accepted: int
    declined: int = strawberry.field(description="Answers declined, none of their offers taken")
    lapsed: int = strawberry.field(description="Answers left unanswered until they expired")
    last_accepted_at: datetime | None


@strawberry.type(description="An applicant as the pricing engine sees them (no protected "
                             "attributes).")
class Applicant:
    user_id: strawberry.ID
    personal: PersonalDetails
    credit: CreditProfile
    behavior: BehaviorMetrics
    history_summary: OfferHistorySummary

    @classmethod
    def of(cls, view: ApplicantView) -> Applicant:
        a, h, c, p, b = (view.applicant, view.history, view.applicant.credit,
                         view.applicant.personal, view.applicant.behavior)
        return cls(
            user_id=strawberry.ID(a.user_id),
            personal=PersonalDetails(full_name=p.full_name, date_of_birth=p.date_of_birth,
                                     phone=p.phone, email=p.email, pan=p.pan, address=p.address),
            credit=CreditProfile(
                monthly_income=money(c.monthly_income), existing_emi=money(c.existing_emi),
                employment_type=EmploymentType(c.employment_type.value),
                employer_category=EmployerCategory(c.employer_category.value),
                months_in_current_job=c.months_in_current_job,
                credit_history_months=c.credit_history_months, bureau_score=c.bureau_score,
                delinquencies_24m=c.delinquencies_24m, enquiries_6m=c.enquiries_6m,
                credit_utilisation=c.credit_utilisation,
                residence_type=ResidenceType(c.residence_type.value),
                has_write_off=c.has_write_off),
            behavior=BehaviorMetrics(**{name: getattr(b, name) for name in BEHAVIOR_FIELDS}),
            history_summary=OfferHistorySummary(
                offers_seen=h.offers_seen, answers=h.answers, accepted=h.accepted,
                declined=h.declined, lapsed=h.lapsed, last_accepted_at=h.last_accepted_at),
        )


@strawberry.input(description="Behaviour counters; a field left out keeps its stored value.")
class BehaviorInput:
    offers_viewed_90d: int | None = None
    rate_comparisons_90d: int | None = None
    offers_declined: int | None = None
    offers_accepted: int | None = None
    app_sessions_30d: int | None = None
    days_since_last_active: int | None = None
    loans_repaid: int | None = None
    products_held: int | None = None


@strawberry.input(description="One applicant record: created, or replaced when `userId` exists. "
                              "Money in INR with at most 2 decimals.")
class ApplicantInput:
    user_id: strawberry.ID
    full_name: str
    date_of_birth: date
    monthly_income: float
    existing_emi: float
    employment_type: EmploymentType  # type: ignore[valid-type]
    months_in_current_job: int
    credit_history_months: int
    delinquencies_24m: int
    enquiries_6m: int
    credit_utilisation: float = strawberry.field(description="0..5 (1 = limits fully used)")
    bureau_score: int | None = strawberry.field(
        default=None, description="300-900; null for a new-to-credit applicant")
    employer_category: EmployerCategory | None = None  # type: ignore[valid-type]
    residence_type: ResidenceType | None = None  # type: ignore[valid-type]
    has_write_off: bool = False
    phone: str | None = None
    email: str | None = None
    pan: str | None = None
    address: str | None = None
    gender: str | None = None
    marital_status: str | None = None
    religion: str | None = None
    caste: str | None = None
    behavior: BehaviorInput | None = None

    def record(self) -> dict[str, Any]:
        """The flat record :mod:`application.applicant_records` validates."""
        record: dict[str, Any] = {}
        for name, value in vars(self).items():
            if name == "behavior" or value is None:
                continue
            record[name] = value.value if isinstance(value, Enum) else value
        record["user_id"] = str(self.user_id)
        if self.behavior is not None:
            record |= {k: v for k, v in vars(self.behavior).items() if v is not None}
        return record


@strawberry.type
class ApplicantQueries:
    @strawberry.field(description="An applicant's record and offer-history summary.")
    async def applicant(self, info: Info[GraphQLContext, None], user_id: strawberry.ID
                        ) -> Applicant:
        return Applicant.of(await call(info.context.services.get_applicant.execute(str(user_id))))


@strawberry.type
class ApplicantMutations:
    @strawberry.mutation(description="Create or replace one applicant (validated, transactional; "
                                     "drops the applicant's cache entries).")
    async def upsert_applicant(self, info: Info[GraphQLContext, None], input: ApplicantInput
                               ) -> Applicant:
        services = info.context.services
        stored = await call(services.upsert_applicant.execute(input.record()))
        return Applicant.of(await call(services.get_applicant.execute(stored.user_id)))
