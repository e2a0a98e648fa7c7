"""call recordings and their notes; a recording policy per queue and per campaign

Revision ID: 0018_recordings
Revises: 0020_metrics
Create Date: 2026-12-02 01:35:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = "0018_recordings"
down_revision: str | None = "0020_metrics"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "recordings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("recording_sid", sa.String(length=64), nullable=False),
        sa.Column("call_sid", sa.String(length=64), nullable=False),
        sa.Column("call_id", sa.Integer(), nullable=True),
        sa.Column("agent_id", sa.Integer(), nullable=True),
        sa.Column("trigger", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("duration_seconds", sa.Integer(), nullable=True),
        sa.Column("media_url", sa.String(length=500), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("status in ('in-progress', 'paused', 'stopped', 'completed', 'absent', 'failed')",
                           name=op.f("ck_recordings_status_valid")),
        sa.ForeignKeyConstraint(["agent_id"], ["users.id"], name=op.f("fk_recordings_agent_id_users"),
                                ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["call_id"], ["calls.id"], name=op.f("fk_recordings_call_id_calls"),
                                ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_recordings")),
        sa.UniqueConstraint("recording_sid", name=op.f("uq_recordings_recording_sid")),
    )
    with op.batch_alter_table("recordings", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_recordings_agent_id"), ["agent_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_recordings_call_id"), ["call_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_recordings_call_sid"), ["call_sid"], unique=False)
    op.create_table(
        "recording_notes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("recording_id", sa.Integer(), nullable=False),
        sa.Column("author_id", sa.Integer(), nullable=True),
        sa.Column("offset_seconds", sa.Integer(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("offset_seconds >= 0", name=op.f("ck_recording_notes_offset_not_negative")),
        sa.ForeignKeyConstraint(["author_id"], ["users.id"], name=op.f("fk_recording_notes_author_id_users"),
                                ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["recording_id"], ["recordings.id"],
                                name=op.f("fk_recording_notes_recording_id_recordings"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_recording_notes")),
    )
    with op.batch_alter_table("recording_notes", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_recording_notes_recording_id"), ["recording_id"], unique=False)
    for table in ("queues", "campaigns"):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column("recording_policy", sa.String(length=16), server_default="off",
                                          nullable=False))


def downgrade() -> None:
    for table in ("campaigns", "queues"):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_column("recording_policy")
    with op.batch_alter_table("recording_notes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_recording_notes_recording_id"))
    op.drop_table("recording_notes")
    with op.batch_alter_table("recordings", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_recordings_call_sid"))
        batch_op.drop_index(batch_op.f("ix_recordings_call_id"))
        batch_op.drop_index(batch_op.f("ix_recordings_agent_id"))
    op.drop_table("recordings")
