"""Initial schema: applicants and their behaviour, offer decisions, offers, pricing policies.

Revision ID: 0001
Revises:
Create Date: 2026-11-23

Money is BIGINT paise, rates are integer basis points (``roi_bps``) or hundredths of a percent
(``apr_centi``), datetimes are TIMESTAMP WITH TIME ZONE in UTC, explanations are JSON (JSONB on
PostgreSQL). Constraint names follow ``adapters.sql.tables.NAMING_CONVENTION``.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.String(length=64)
CODE = sa.String(length=32)
TIMESTAMP = sa.DateTime(timezone=True)
JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "applicants",
        sa.Column("user_id", ID, nullable=False),
        sa.Column("full_name", sa.Text(), nullable=False),
        sa.Column("date_of_birth", sa.Text(), nullable=False),
        sa.Column("phone", sa.Text(), nullable=True),
        sa.Column("email", sa.Text(), nullable=True),
        sa.Column("pan", sa.Text(), nullable=True),
        sa.Column("address", sa.Text(), nullable=True),
        sa.Column("monthly_income_paise", sa.BigInteger(), nullable=False),
        sa.Column("existing_emi_paise", sa.BigInteger(), nullable=False),
        sa.Column("employment_type", CODE, nullable=False),
        sa.Column("employer_category", CODE, nullable=False),
        sa.Column("months_in_current_job", sa.Integer(), nullable=False),
        sa.Column("credit_history_months", sa.Integer(), nullable=False),
        sa.Column("bureau_score", sa.Integer(), nullable=True),
        sa.Column("delinquencies_24m", sa.Integer(), nullable=False),
        sa.Column("enquiries_6m", sa.Integer(), nullable=False),
        sa.Column("credit_utilisation", sa.Double(), nullable=False),
        sa.Column("residence_type", CODE, nullable=False),
        sa.Column("has_write_off", sa.Boolean(), nullable=False),
        sa.Column("gender", sa.String(length=64), nullable=True),
        sa.Column("marital_status", sa.String(length=64), nullable=True),
        sa.Column("religion", sa.String(length=64), nullable=True),
        sa.Column("caste", sa.String(length=64), nullable=True),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("updated_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_applicants")),
    )
    op.create_table(
        "applicant_behavior",
        sa.Column("user_id", ID, nullable=False),
        sa.Column("offers_viewed_90d", sa.Integer(), nullable=False),
        sa.Column("rate_comparisons_90d", sa.Integer(), nullable=False),
        sa.Column("offers_declined", sa.Integer(), nullable=False),
        sa.Column("offers_accepted", sa.Integer(), nullable=False),
        sa.Column("app_sessions_30d", sa.Integer(), nullable=False),
        sa.Column("days_since_last_active", sa.Integer(), nullable=True),
        sa.Column("loans_repaid", sa.Integer(), nullable=False),
        sa.Column("products_held", sa.Integer(), nullable=False),
        sa.Column("updated_at", TIMESTAMP, nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["applicants.user_id"], ondelete="CASCADE",
                                name=op.f("fk_applicant_behavior_user_id_applicants")),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_applicant_behavior")),
    )
    op.create_table(
        "offer_decisions",
        sa.Column("decision_id", ID, nullable=False),
        sa.Column("user_id", ID, nullable=False),
        sa.Column("decision", CODE, nullable=False),
        sa.Column("reasons", JSON, nullable=False),
        sa.Column("risk", JSON, nullable=False),
        sa.Column("behavior", JSON, nullable=False),
        sa.Column("policy_version", sa.Integer(), nullable=False),
        sa.Column("requested_amount_paise", sa.BigInteger(), nullable=True),
        sa.Column("requested_tenure", sa.Integer(), nullable=True),
        sa.Column("inputs_hash", sa.String(length=128), nullable=True),
        sa.Column("generated_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("decision_id", name=op.f("pk_offer_decisions")),
    )
    op.create_index(op.f("ix_offer_decisions_user_id_generated_at"), "offer_decisions",
                    ["user_id", "generated_at"])
    op.create_table(
        "offers",
        sa.Column("offer_id", ID, nullable=False),
        sa.Column("decision_id", ID, nullable=False),
        sa.Column("user_id", ID, nullable=False),
        sa.Column("rank", sa.Integer(), nullable=False),
        sa.Column("amount_paise", sa.BigInteger(), nullable=False),
        sa.Column("tenure", sa.Integer(), nullable=False),
        sa.Column("roi_bps", sa.Integer(), nullable=False),
        sa.Column("processing_fee_paise", sa.BigInteger(), nullable=False),
        sa.Column("gst_on_fee_paise", sa.BigInteger(), nullable=False),
        sa.Column("net_disbursal_paise", sa.BigInteger(), nullable=False),
        sa.Column("emi_paise", sa.BigInteger(), nullable=False),
        sa.Column("apr_centi", sa.Integer(), nullable=False),
        sa.Column("total_interest_paise", sa.BigInteger(), nullable=False),
        sa.Column("total_payable_paise", sa.BigInteger(), nullable=False),
        sa.Column("conversion_probability", sa.Double(), nullable=False),
        sa.Column("risk_impact", sa.Double(), nullable=False),
        sa.Column("expected_profit_paise", sa.BigInteger(), nullable=False),
        sa.Column("objective", sa.Double(), nullable=False),
        sa.Column("explanation", JSON, nullable=False),
        sa.Column("policy_version", sa.Integer(), nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("valid_until", TIMESTAMP, nullable=False),
        sa.Column("status", CODE, nullable=False),
        sa.Column("inputs_hash", sa.String(length=128), nullable=False),
        sa.Column("status_changed_at", TIMESTAMP, nullable=False),
        sa.ForeignKeyConstraint(["decision_id"], ["offer_decisions.decision_id"],
                                ondelete="CASCADE",
                                name=op.f("fk_offers_decision_id_offer_decisions")),
        sa.PrimaryKeyConstraint("offer_id", name=op.f("pk_offers")),
        sa.UniqueConstraint("decision_id", "rank", name=op.f("uq_offers_decision_id_rank")),
    )
    op.create_index(op.f("ix_offers_user_id_created_at"), "offers", ["user_id", "created_at"])
    op.create_table(
        "pricing_policies",
        sa.Column("version", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("source_toml", sa.Text(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("published_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("version", name=op.f("pk_pricing_policies")),
    )
    # At most one active policy.
    op.create_index("uq_pricing_policies_one_active", "pricing_policies", ["active"], unique=True,
                    postgresql_where=sa.text("active"), sqlite_where=sa.text("active"))


def downgrade() -> None:
    op.drop_table("pricing_policies")
    op.drop_table("offers")
    op.drop_table("offer_decisions")
    op.drop_table("applicant_behavior")
    op.drop_table("applicants")
