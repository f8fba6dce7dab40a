"""Encryption at rest of applicants' personal data: blind-index columns, every plaintext value
sealed.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30

* ``applicants.email_bidx``, ``phone_bidx``, ``pan_bidx`` (HMAC-SHA256 hex) with an index each;
* protected attributes widened to ``TEXT`` (an envelope is longer than 64 characters);
* every existing plaintext value sealed with AES-GCM under the current key
  (``adapters/sql/pii_rotation.py``), in the migration's transaction.

Sealing needs the keys: ``loan-offers migrate`` hands them over (``config.attributes
["pii_protection"]``). Run without them on a database that holds applicants, this revision
stops instead of leaving plaintext behind. The downgrade opens every value again (keys needed
likewise) and drops the blind indexes.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import context, op

from adapters.sql.pii_rotation import reseal_all, unseal_all

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PROTECTED = ("gender", "marital_status", "religion", "caste")
INDEXED = ("email", "phone", "pan")


def _protection(purpose: str):
    pii = context.config.attributes.get("pii_protection")
    has_rows = op.get_bind().execute(sa.text("SELECT 1 FROM applicants LIMIT 1")).first()
    if pii is None and has_rows is not None:
        raise RuntimeError(f"revision 0005 must {purpose} applicants' personal data and has no "
                           "keys: run `loan-offers migrate` with LOAN_OFFERS_PII_KEYS and "
                           "LOAN_OFFERS_PII_INDEX_KEY (or their _FILE forms) set")
    return pii if has_rows is not None else None


def upgrade() -> None:
    # Keys first, before any DDL: SQLite does not roll DDL back, so a refusal must come first.
    pii = _protection("seal")
    with op.batch_alter_table("applicants") as batch:
        for column in INDEXED:
            batch.add_column(sa.Column(f"{column}_bidx", sa.String(length=64), nullable=True))
        for column in PROTECTED:
            batch.alter_column(column, existing_type=sa.String(length=64), type_=sa.Text(),
                               existing_nullable=True)
    for column in INDEXED:
        op.create_index(op.f(f"ix_applicants_{column}_bidx"), "applicants", [f"{column}_bidx"])
    if pii is not None:
        reseal_all(op.get_bind(), pii)


def downgrade() -> None:
    pii = _protection("open")
    if pii is not None:
        unseal_all(op.get_bind(), pii)
    for column in INDEXED:
        op.drop_index(op.f(f"ix_applicants_{column}_bidx"), table_name="applicants")
    with op.batch_alter_table("applicants") as batch:
        for column in PROTECTED:
            batch.alter_column(column, existing_type=sa.Text(), type_=sa.String(length=64),
                               existing_nullable=True)
        for column in INDEXED:
            batch.drop_column(f"{column}_bidx")
