"""scheduled reports

Revision ID: 0020_metrics
Revises: 0017_callbacks
Create Date: 2026-12-02 01:45:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0020_metrics"
down_revision: str | None = "0017_callbacks"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "report_schedules",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("owner_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("every", sa.String(length=8), nullable=False),
        sa.Column("interval", sa.String(length=8), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("last_period", sa.String(length=10), nullable=True),
        sa.Column("last_sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("kind in ('queues', 'teams', 'agents', 'campaigns')",
                           name=op.f("ck_report_schedules_kind_valid")),
        sa.CheckConstraint("every in ('day', 'week')", name=op.f("ck_report_schedules_every_valid")),
        sa.CheckConstraint("interval in ('15m', 'hour', 'day', 'week')",
                           name=op.f("ck_report_schedules_interval_valid")),
        sa.ForeignKeyConstraint(["owner_id"], ["users.id"], name=op.f("fk_report_schedules_owner_id_users"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_report_schedules")),
    )
    op.create_index(op.f("ix_report_schedules_owner_id"), "report_schedules", ["owner_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_report_schedules_owner_id"), table_name="report_schedules")
    op.drop_table("report_schedules")
