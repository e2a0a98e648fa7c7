"""routing and dialing traces: why a call went to its queue and agent, or why the dialer placed it

Revision ID: 0021_routing_trace
Revises: 0019_crm_rfm
Create Date: 2026-12-02 01:50:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0021_routing_trace"
down_revision: str | None = "0019_crm_rfm"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "routing_traces",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("call_sid", sa.String(length=80), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("queue_id", sa.Integer(), nullable=True),
        sa.Column("agent_id", sa.Integer(), nullable=True),
        sa.Column("dedupe_key", sa.String(length=160), nullable=False),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(["agent_id"], ["users.id"], name=op.f("fk_routing_traces_agent_id_users"),
                                ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["queue_id"], ["queues.id"], name=op.f("fk_routing_traces_queue_id_queues"),
                                ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_routing_traces")),
        sa.UniqueConstraint("dedupe_key", name=op.f("uq_routing_traces_dedupe_key")),
    )
    with op.batch_alter_table("routing_traces", schema=None) as batch_op:
        batch_op.create_index("ix_routing_traces_call_decided", ["call_sid", "decided_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("routing_traces", schema=None) as batch_op:
        batch_op.drop_index("ix_routing_traces_call_decided")
    op.drop_table("routing_traces")
