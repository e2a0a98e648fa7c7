"""calls: `derived_at`, when a derivation last read the call's events

The derivation sweep compared an event's recording with the record's `updated_at`. An offer or an agent's answer
updates the record in the statement that logs its event, so such an event looked derived even when its derivation
job was lost. Nothing but a derivation sets `derived_at`. Existing calls start without one: the sweep derives the
few with events in its window once more, which changes nothing.

Revision ID: 0024_calls_derived_at
Revises: 0023_call_events_recorded_at
Create Date: 2026-12-05 00:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0024_calls_derived_at"
down_revision: str | None = "0023_call_events_recorded_at"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # A nullable column without a default: on PostgreSQL a change of the catalog only, no rewrite of the table.
    op.add_column("calls", sa.Column("derived_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("calls") as batch:
        batch.drop_column("derived_at")
