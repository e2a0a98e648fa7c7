"""the dialing gate: do-not-call by source, the dial-attempt log, campaign consent

Revision ID: 0007_dialing_gate
Revises: 0006_call_language
Create Date: 2026-12-01 20:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007_dialing_gate"
down_revision: str | None = "0006_call_language"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # The do-not-call table existed unused: one number may now be on both our list and an imported one.
    with op.batch_alter_table("do_not_call", schema=None) as batch_op:
        batch_op.drop_constraint("uq_do_not_call_phone_e164", type_="unique")
        batch_op.add_column(sa.Column("source", sa.String(length=16), nullable=False, server_default="internal"))
        batch_op.add_column(sa.Column("added_by_id", sa.Integer(), nullable=True))
        batch_op.alter_column("created_at", new_column_name="added_at", existing_type=sa.DateTime(timezone=True),
                              existing_nullable=False)
        batch_op.create_unique_constraint("uq_do_not_call_phone_e164_source", ["phone_e164", "source"])
        batch_op.create_check_constraint("source_valid", "source in ('internal', 'imported')")
        batch_op.create_foreign_key(batch_op.f("fk_do_not_call_added_by_id_users"), "users", ["added_by_id"], ["id"],
                                    ondelete="SET NULL")
        batch_op.create_index(batch_op.f("ix_do_not_call_phone_e164"), ["phone_e164"], unique=False)
    with op.batch_alter_table("do_not_call", schema=None) as batch_op:
        batch_op.alter_column("source", server_default=None)

    op.create_table(
        "dial_attempts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("phone_e164", sa.String(length=20), nullable=False),
        sa.Column("actor_id", sa.Integer(), nullable=True),
        sa.Column("path", sa.String(length=20), nullable=False),
        sa.Column("allowed", sa.Boolean(), nullable=False),
        sa.Column("reason", sa.String(length=40), nullable=True),
        sa.Column("campaign_id", sa.Integer(), nullable=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("call_sid", sa.String(length=64), nullable=True),
        sa.Column("outcome", sa.String(length=20), nullable=True),
        sa.Column("outcome_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["actor_id"], ["users.id"], name=op.f("fk_dial_attempts_actor_id_users"),
                                ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["campaign_id"], ["campaigns.id"], name=op.f("fk_dial_attempts_campaign_id_campaigns"),
                                ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dial_attempts")),
    )
    with op.batch_alter_table("dial_attempts", schema=None) as batch_op:
        batch_op.create_index("ix_dial_attempts_phone_at", ["phone_e164", "at"], unique=False)
        batch_op.create_index(batch_op.f("ix_dial_attempts_actor_id"), ["actor_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_dial_attempts_campaign_id"), ["campaign_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_dial_attempts_call_sid"), ["call_sid"], unique=False)

    with op.batch_alter_table("campaigns", schema=None) as batch_op:
        batch_op.add_column(sa.Column("requires_consent", sa.Boolean(), nullable=False, server_default=sa.false()))
    with op.batch_alter_table("campaign_contacts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("consent_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("campaign_contacts", schema=None) as batch_op:
        batch_op.drop_column("consent_at")
    with op.batch_alter_table("campaigns", schema=None) as batch_op:
        batch_op.drop_column("requires_consent")
    op.drop_table("dial_attempts")
    with op.batch_alter_table("do_not_call", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_do_not_call_phone_e164"))
        batch_op.drop_constraint(batch_op.f("fk_do_not_call_added_by_id_users"), type_="foreignkey")
        batch_op.drop_constraint("source_valid", type_="check")
        batch_op.drop_constraint("uq_do_not_call_phone_e164_source", type_="unique")
        batch_op.alter_column("added_at", new_column_name="created_at", existing_type=sa.DateTime(timezone=True),
                              existing_nullable=False)
        batch_op.drop_column("added_by_id")
        batch_op.drop_column("source")
        batch_op.create_unique_constraint("uq_do_not_call_phone_e164", ["phone_e164"])
