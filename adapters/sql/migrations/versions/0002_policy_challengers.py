"""Champion/challenger experiments.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-30

One row per experiment: the challenger version, the champion it was started against, the share
of users in basis points, when it ran. ``running`` is true while it runs (at most one: a partial
unique index, like the one active policy).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TIMESTAMP = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "policy_challengers",
        sa.Column("experiment_id", sa.Integer(), nullable=False),
        sa.Column("challenger_version", sa.Integer(), nullable=False),
        sa.Column("champion_version", sa.Integer(), nullable=False),
        sa.Column("share_bps", sa.Integer(), nullable=False),
        sa.Column("running", sa.Boolean(), nullable=False),
        sa.Column("started_at", TIMESTAMP, nullable=False),
        sa.Column("ended_at", TIMESTAMP, nullable=True),
        sa.ForeignKeyConstraint(["challenger_version"], ["pricing_policies.version"],
                                name=op.f("fk_policy_challengers_challenger_version_pricing_policies")),
        sa.PrimaryKeyConstraint("experiment_id", name=op.f("pk_policy_challengers")),
    )
    op.create_index("uq_policy_challengers_one_running", "policy_challengers", ["running"],
                    unique=True, postgresql_where=sa.text("running"),
                    sqlite_where=sa.text("running"))


def downgrade() -> None:
    op.drop_table("policy_challengers")
