"""customer analysis: accounts.value and the per-contact RFM scores and segment (contact_rfm)

Revision ID: 0019_crm_rfm
Revises: 0014_admin_routing
Create Date: 2026-12-02 01:45:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0019_crm_rfm"
down_revision: str | None = "0014_admin_routing"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("accounts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("value", sa.Numeric(precision=14, scale=2), nullable=True))
    op.create_table(
        "contact_rfm",
        sa.Column("contact_id", sa.Integer(), nullable=False),
        sa.Column("recency_score", sa.Integer(), nullable=False),
        sa.Column("frequency_score", sa.Integer(), nullable=False),
        sa.Column("value_score", sa.Integer(), nullable=False),
        sa.Column("segment", sa.String(length=20), nullable=False),
        sa.Column("last_interaction_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("interactions", sa.Integer(), nullable=False),
        sa.Column("computed_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["contact_id"], ["contacts.id"], name=op.f("fk_contact_rfm_contact_id_contacts"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("contact_id", name=op.f("pk_contact_rfm")),
    )
    with op.batch_alter_table("contact_rfm", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_contact_rfm_segment"), ["segment"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("contact_rfm", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_contact_rfm_segment"))
    op.drop_table("contact_rfm")
    with op.batch_alter_table("accounts", schema=None) as batch_op:
        batch_op.drop_column("value")
