"""Offer answers and behaviour events: idempotency keys, behaviour events, re-pricing links.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-30

* ``idempotency_keys``: the stored answer of ``acceptOffer``/``declineOffer`` per client key;
* ``behavior_events``: events reported through ``recordBehaviorEvent``;
* ``offers.replaced_by``: the successor of a REPRICED offer; an index on
  ``(status, valid_until)`` for the expiry sweep and the re-pricing after a publish.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.String(length=64)
CODE = sa.String(length=32)
TIMESTAMP = sa.DateTime(timezone=True)
JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "idempotency_keys",
        sa.Column("operation", sa.String(length=64), nullable=False),
        sa.Column("idempotency_key", sa.String(length=128), nullable=False),
        sa.Column("subject_id", ID, nullable=False),
        sa.Column("response", JSON, nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("operation", "idempotency_key", name=op.f("pk_idempotency_keys")),
    )
    op.create_table(
        "behavior_events",
        sa.Column("user_id", ID, nullable=False),
        sa.Column("event_id", ID, nullable=False),
        sa.Column("event_type", CODE, nullable=False),
        sa.Column("offer_id", ID, nullable=True),
        sa.Column("occurred_at", TIMESTAMP, nullable=False),
        sa.Column("recorded_at", TIMESTAMP, nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["applicants.user_id"], ondelete="CASCADE",
                                name=op.f("fk_behavior_events_user_id_applicants")),
        sa.PrimaryKeyConstraint("user_id", "event_id", name=op.f("pk_behavior_events")),
    )
    op.create_index(op.f("ix_behavior_events_user_id_event_type_occurred_at"), "behavior_events",
                    ["user_id", "event_type", "occurred_at"])
    with op.batch_alter_table("offers") as batch:
        batch.add_column(sa.Column("replaced_by", ID, nullable=True))
    op.create_index(op.f("ix_offers_status_valid_until"), "offers", ["status", "valid_until"])


def downgrade() -> None:
    op.drop_index(op.f("ix_offers_status_valid_until"), table_name="offers")
    with op.batch_alter_table("offers") as batch:
        batch.drop_column("replaced_by")
    op.drop_table("behavior_events")
    op.drop_table("idempotency_keys")
