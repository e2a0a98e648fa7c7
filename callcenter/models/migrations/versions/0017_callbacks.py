"""callbacks to the end: owner and source of a callback, its dial attempts, per-queue callback settings

Revision ID: 0017_callbacks
Revises: 0021_routing_trace
Create Date: 2026-12-02 01:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0017_callbacks"
down_revision: str | None = "0021_routing_trace"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("callbacks", schema=None) as batch_op:
        batch_op.add_column(sa.Column("owner_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("source", sa.String(length=16), nullable=False, server_default="caller"))
        batch_op.create_foreign_key(batch_op.f("fk_callbacks_owner_id_users"), "users", ["owner_id"], ["id"],
                                    ondelete="SET NULL")
        batch_op.create_index(batch_op.f("ix_callbacks_owner_id"), ["owner_id"], unique=False)
    with op.batch_alter_table("callbacks", schema=None) as batch_op:
        batch_op.alter_column("source", server_default=None)
    # Agents' own callbacks booked before this release: the booking agent owns them.
    op.execute("UPDATE callbacks SET owner_id = created_by_id, source = 'wrap_up' WHERE call_id IS NOT NULL "
               "AND created_by_id IS NOT NULL")
    with op.batch_alter_table("queues", schema=None) as batch_op:
        batch_op.add_column(sa.Column("callback_owner_wait_seconds", sa.Integer(), nullable=False,
                                      server_default="300"))
        batch_op.add_column(sa.Column("abandoned_callbacks", sa.Boolean(), nullable=False,
                                      server_default=sa.false()))
        batch_op.add_column(sa.Column("abandoned_callback_min_wait_seconds", sa.Integer(), nullable=False,
                                      server_default="30"))
    with op.batch_alter_table("queues", schema=None) as batch_op:
        batch_op.alter_column("callback_owner_wait_seconds", server_default=None)
        batch_op.alter_column("abandoned_callbacks", server_default=None)
        batch_op.alter_column("abandoned_callback_min_wait_seconds", server_default=None)
    op.create_table(
        "callback_attempts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("callback_id", sa.Integer(), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("entry_id", sa.String(length=64), nullable=False),
        sa.Column("agent_id", sa.Integer(), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("call_sid", sa.String(length=64), nullable=True),
        sa.Column("result", sa.String(length=16), nullable=False),
        sa.CheckConstraint(
            "result in ('pending', 'dialing', 'answered', 'no_answer', 'failed', 'interrupted')",
            name=op.f("ck_callback_attempts_result_valid"),
        ),
        sa.ForeignKeyConstraint(["callback_id"], ["callbacks.id"],
                                name=op.f("fk_callback_attempts_callback_id_callbacks"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["agent_id"], ["users.id"], name=op.f("fk_callback_attempts_agent_id_users"),
                                ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_callback_attempts")),
        sa.UniqueConstraint("callback_id", "attempt", name="uq_callback_attempts_callback_attempt"),
    )
    with op.batch_alter_table("callback_attempts", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_callback_attempts_callback_id"), ["callback_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_callback_attempts_call_sid"), ["call_sid"], unique=False)
        batch_op.create_index(batch_op.f("ix_callback_attempts_result"), ["result"], unique=False)


def downgrade() -> None:
    op.drop_table("callback_attempts")
    with op.batch_alter_table("queues", schema=None) as batch_op:
        batch_op.drop_column("abandoned_callback_min_wait_seconds")
        batch_op.drop_column("abandoned_callbacks")
        batch_op.drop_column("callback_owner_wait_seconds")
    with op.batch_alter_table("callbacks", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_callbacks_owner_id"))
        batch_op.drop_constraint(batch_op.f("fk_callbacks_owner_id_users"), type_="foreignkey")
        batch_op.drop_column("source")
        batch_op.drop_column("owner_id")
