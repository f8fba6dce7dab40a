"""Persistence models (SQLModel tables). They describe rows; :mod:`adapters.sql.mapping` turns
them into the domain's frozen dataclasses and back.

Storage conventions, identical on SQLite and PostgreSQL:

* money is an integer number of paise (``BIGINT``), so every amount is exact;
* a rate of interest is an integer number of basis points (``roi_bps``: 17.70 % -> 1770) and an
  APR an integer number of hundredths of a percent (``apr_centi``: 18.82 % -> 1882);
* datetimes are UTC, ``TIMESTAMP WITH TIME ZONE`` (:class:`UtcDateTime` also makes SQLite, which
  has no time zones, hand back aware UTC values);
* structured explanations are JSON (``JSONB`` on PostgreSQL).

Alembic (``adapters/sql/migrations``) is the only thing that creates or changes the schema.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Double,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import registry
from sqlalchemy.types import TypeDecorator
from sqlmodel import Field, SQLModel

#: Deterministic constraint and index names, so migrations can refer to them on both databases.
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = MetaData(naming_convention=NAMING_CONVENTION)


class UtcDateTime(TypeDecorator[datetime]):
    """``TIMESTAMP WITH TIME ZONE`` that accepts only aware datetimes and returns aware UTC ones.

    SQLite stores the UTC wall time as text (it has no time zones); PostgreSQL stores an instant.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"naive datetime {value!r}: store timezone-aware datetimes only")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


Json = JSON().with_variant(JSONB(), "postgresql")
Code = String(32)           # enum values (employment type, decision, status, ...)
Id = String(64)             # user ids, offer ids, decision ids


class Table(SQLModel, registry=registry(metadata=metadata)):
    """Base of every table: our own metadata (naming convention) instead of SQLModel's global."""


class ApplicantRow(Table, table=True):
    """An applicant: PII, the credit profile the scorecard reads, and protected attributes
    (never read by pricing).

    PII and protected attributes are stored sealed (AES-GCM envelopes ``v1.<kid>.<nonce>.<ct>``,
    ``adapters/sql/pii_columns.py``), never as plaintext; ``email_bidx``, ``phone_bidx`` and
    ``pan_bidx`` are their keyed blind indexes for equality lookups."""

    __tablename__ = "applicants"
    __table_args__ = (Index(None, "email_bidx"), Index(None, "phone_bidx"),
                      Index(None, "pan_bidx"))

    user_id: str = Field(sa_type=Id, primary_key=True)

    full_name: str = Field(sa_type=Text)
    date_of_birth: str = Field(sa_type=Text)
    phone: str | None = Field(default=None, sa_type=Text)
    email: str | None = Field(default=None, sa_type=Text)
    pan: str | None = Field(default=None, sa_type=Text)
    address: str | None = Field(default=None, sa_type=Text)
    email_bidx: str | None = Field(default=None, sa_type=String(64))
    phone_bidx: str | None = Field(default=None, sa_type=String(64))
    pan_bidx: str | None = Field(default=None, sa_type=String(64))

    monthly_income_paise: int = Field(sa_type=BigInteger)
    existing_emi_paise: int = Field(sa_type=BigInteger)
    employment_type: str = Field(sa_type=Code)
    employer_category: str = Field(sa_type=Code)
    months_in_current_job: int = Field(sa_type=Integer)
    credit_history_months: int = Field(sa_type=Integer)
    bureau_score: int | None = Field(default=None, sa_type=Integer)
    delinquencies_24m: int = Field(sa_type=Integer)
    enquiries_6m: int = Field(sa_type=Integer)
    credit_utilisation: float = Field(sa_type=Double)
    residence_type: str = Field(sa_type=Code)
    has_write_off: bool = Field(sa_type=Boolean)

    gender: str | None = Field(default=None, sa_type=Text)
    marital_status: str | None = Field(default=None, sa_type=Text)
    religion: str | None = Field(default=None, sa_type=Text)
    caste: str | None = Field(default=None, sa_type=Text)

    created_at: datetime = Field(sa_type=UtcDateTime)
    updated_at: datetime = Field(sa_type=UtcDateTime)


class ApplicantBehaviorRow(Table, table=True):
    """Behaviour counters (:class:`~domain.behavior.metrics.BehaviorMetrics`), one row per
    applicant, updated more often than the applicant itself."""

    __tablename__ = "applicant_behavior"

    user_id: str = Field(sa_type=Id, primary_key=True, foreign_key="applicants.user_id",
                         ondelete="CASCADE")
    offers_viewed_90d: int = Field(sa_type=Integer)
    rate_comparisons_90d: int = Field(sa_type=Integer)
    offers_declined: int = Field(sa_type=Integer)
    offers_accepted: int = Field(sa_type=Integer)
    app_sessions_30d: int = Field(sa_type=Integer)
    days_since_last_active: int | None = Field(default=None, sa_type=Integer)
    loans_repaid: int = Field(sa_type=Integer)
    products_held: int = Field(sa_type=Integer)
    updated_at: datetime = Field(sa_type=UtcDateTime)


class OfferDecisionRow(Table, table=True):
    """One answer to a loan-offer request: the decision, its reasons and the risk and behaviour
    analyses it rested on (JSON, kept for audit and model monitoring)."""

    __tablename__ = "offer_decisions"
    __table_args__ = (Index(None, "user_id", "generated_at"),)

    decision_id: str = Field(sa_type=Id, primary_key=True)
    user_id: str = Field(sa_type=Id)
    decision: str = Field(sa_type=Code)
    reasons: list[dict[str, Any]] = Field(sa_type=Json)
    risk: dict[str, Any] = Field(sa_type=Json)
    behavior: dict[str, Any] = Field(sa_type=Json)
    policy_version: int = Field(sa_type=Integer)
    requested_amount_paise: int | None = Field(default=None, sa_type=BigInteger)
    requested_tenure: int | None = Field(default=None, sa_type=Integer)
    inputs_hash: str | None = Field(default=None, sa_type=String(128))
    generated_at: datetime = Field(sa_type=UtcDateTime)


class OfferRow(Table, table=True):
    """One priced, ranked offer with its Key Facts Statement figures and explanation."""

    __tablename__ = "offers"
    __table_args__ = (
        Index(None, "user_id", "created_at"),
        # The expiry sweep and the re-pricing after a publish look for ACTIVE offers by date.
        Index(None, "status", "valid_until"),
        UniqueConstraint("decision_id", "rank"),
    )

    offer_id: str = Field(sa_type=Id, primary_key=True)
    # Indexed by the (decision_id, rank) unique constraint.
    decision_id: str = Field(sa_type=Id, foreign_key="offer_decisions.decision_id",
                             ondelete="CASCADE")
    user_id: str = Field(sa_type=Id)
    rank: int = Field(sa_type=Integer)
    amount_paise: int = Field(sa_type=BigInteger)
    tenure: int = Field(sa_type=Integer)
    roi_bps: int = Field(sa_type=Integer)
    processing_fee_paise: int = Field(sa_type=BigInteger)
    gst_on_fee_paise: int = Field(sa_type=BigInteger)
    net_disbursal_paise: int = Field(sa_type=BigInteger)
    emi_paise: int = Field(sa_type=BigInteger)
    apr_centi: int = Field(sa_type=Integer)
    total_interest_paise: int = Field(sa_type=BigInteger)
    total_payable_paise: int = Field(sa_type=BigInteger)
    conversion_probability: float = Field(sa_type=Double)
    risk_impact: float = Field(sa_type=Double)
    expected_profit_paise: int = Field(sa_type=BigInteger)
    objective: float = Field(sa_type=Double)
    explanation: dict[str, Any] = Field(sa_type=Json)
    policy_version: int = Field(sa_type=Integer)
    created_at: datetime = Field(sa_type=UtcDateTime)
    valid_until: datetime = Field(sa_type=UtcDateTime)
    status: str = Field(sa_type=Code)
    inputs_hash: str = Field(sa_type=String(128))
    status_changed_at: datetime = Field(sa_type=UtcDateTime)
    # REPRICED offers: the offer priced under the newer policy that replaced this one.
    replaced_by: str | None = Field(default=None, sa_type=Id)


class PricingPolicyRow(Table, table=True):
    """A published pricing policy version: its TOML source, as validated and stored.

    The partial unique index lets at most one row be active (PostgreSQL and SQLite both support
    partial indexes)."""

    __tablename__ = "pricing_policies"
    __table_args__ = (
        Index("uq_pricing_policies_one_active", "active", unique=True,
              postgresql_where=text("active"), sqlite_where=text("active")),
    )

    version: int = Field(sa_type=Integer, primary_key=True,
                         sa_column_kwargs={"autoincrement": False})
    name: str = Field(sa_type=String(200))
    source_toml: str = Field(sa_type=Text)
    active: bool = Field(sa_type=Boolean)
    published_at: datetime = Field(sa_type=UtcDateTime)


class PolicyChallengerRow(Table, table=True):
    """A champion/challenger experiment. ``running`` is true while it runs; the partial unique
    index lets at most one run at a time."""

    __tablename__ = "policy_challengers"
    __table_args__ = (
        Index("uq_policy_challengers_one_running", "running", unique=True,
              postgresql_where=text("running"), sqlite_where=text("running")),
    )

    experiment_id: int = Field(sa_type=Integer, primary_key=True)
    challenger_version: int = Field(sa_type=Integer, foreign_key="pricing_policies.version")
    champion_version: int = Field(sa_type=Integer)
    share_bps: int = Field(sa_type=Integer)
    running: bool = Field(sa_type=Boolean)
    started_at: datetime = Field(sa_type=UtcDateTime)
    ended_at: datetime | None = Field(default=None, sa_type=UtcDateTime, nullable=True)


class IdempotencyKeyRow(Table, table=True):
    """The answer given to an idempotent mutation (``acceptOffer``, ``declineOffer``), by the
    client's key: the same key gets the same answer. Written in the mutation's transaction."""

    __tablename__ = "idempotency_keys"

    operation: str = Field(sa_type=String(64), primary_key=True)
    idempotency_key: str = Field(sa_type=String(128), primary_key=True)
    subject_id: str = Field(sa_type=Id)
    response: dict[str, Any] = Field(sa_type=Json)
    created_at: datetime = Field(sa_type=UtcDateTime)


class BehaviorEventRow(Table, table=True):
    """A behaviour event reported by a lender system (``recordBehaviorEvent``); counted into the
    applicant's behaviour metrics inside each type's window (``domain.behavior.events``)."""

    __tablename__ = "behavior_events"
    __table_args__ = (Index(None, "user_id", "event_type", "occurred_at"),)

    user_id: str = Field(sa_type=Id, primary_key=True, foreign_key="applicants.user_id",
                         ondelete="CASCADE")
    event_id: str = Field(sa_type=Id, primary_key=True)
    event_type: str = Field(sa_type=Code)
    offer_id: str | None = Field(default=None, sa_type=Id)
    occurred_at: datetime = Field(sa_type=UtcDateTime)
    recorded_at: datetime = Field(sa_type=UtcDateTime)


ALL_TABLES = (ApplicantRow, ApplicantBehaviorRow, OfferDecisionRow, OfferRow, PricingPolicyRow,
              PolicyChallengerRow, IdempotencyKeyRow, BehaviorEventRow)


class AuditRecordRow(Table, table=True):
    """The append-only, hash-chained audit trail (``adapters/sql/audit.py``). Triggers refuse
    UPDATE and DELETE; ``info["append_only"]`` tells test clean-up to leave it alone."""

    __tablename__ = "audit_log"
    __table_args__ = {"info": {"append_only": True}}

    seq: int = Field(sa_type=BigInteger().with_variant(Integer(), "sqlite"), primary_key=True,
                     sa_column_kwargs={"autoincrement": False})
    occurred_at: datetime = Field(sa_type=UtcDateTime)
    actor: str = Field(sa_type=String(128))
    role: str = Field(sa_type=String(32))
    action: str = Field(sa_type=String(64))
    resource: str = Field(sa_type=String(200))
    outcome: str = Field(sa_type=String(32))
    request_id: str = Field(sa_type=String(128))
    policy_version: int | None = Field(default=None, sa_type=Integer)
    inputs_hash: str = Field(sa_type=String(64))
    details: str = Field(sa_type=Text)  # canonical JSON, hashed exactly as stored
    prev_hash: str = Field(sa_type=String(64))
    hash: str = Field(sa_type=String(64))
