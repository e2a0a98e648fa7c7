"""call_events: an index on `recorded_at`, for the derivation sweep

The sweep looks for events recorded in its window whose derivation was lost. It looked by `occurred_at`, the
indexed column, and missed events recorded now that happened earlier: a carrier's late or replayed callback
whose Timestamp is old.

Revision ID: 0023_call_events_recorded_at
Revises: 0018_recordings
Create Date: 2026-12-04 22:30:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0023_call_events_recorded_at"
down_revision: str | None = "0018_recordings"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEX = "ix_call_events_recorded_at"


def upgrade() -> None:
    # Plain CREATE INDEX: it holds back inserts into call_events while it runs. On a large PostgreSQL log, build it
    # beforehand without blocking (CREATE INDEX CONCURRENTLY ix_call_events_recorded_at ON call_events
    # (recorded_at)); this step then finds it there.
    op.create_index(INDEX, "call_events", ["recorded_at"], if_not_exists=True)


def downgrade() -> None:
    op.drop_index(INDEX, table_name="call_events")
