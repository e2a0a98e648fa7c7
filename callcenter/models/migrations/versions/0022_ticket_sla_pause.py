"""tickets: the SLA clock stops while a ticket is pending (`sla_paused_at`)

Revision ID: 0022_ticket_sla_pause
Revises: 0008_service_desk_tickets
Create Date: 2026-12-02 01:50:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0022_ticket_sla_pause"
down_revision: str | None = "0008_service_desk_tickets"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("tickets") as batch:
        batch.add_column(sa.Column("sla_paused_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("tickets") as batch:
        batch.drop_column("sla_paused_at")
