"""the service desk: ticket workflow (status `new`), ticket events, service agreements, team calendars

Revision ID: 0008_service_desk_tickets
Revises: 0009_knowledge_base
Create Date: 2026-12-01 22:50:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008_service_desk_tickets"
down_revision: str | None = "0009_knowledge_base"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OLD_STATUSES = "status in ('open', 'pending', 'resolved', 'closed')"
NEW_STATUSES = "status in ('new', 'open', 'pending', 'resolved', 'closed')"


def upgrade() -> None:
    op.create_table(
        "service_agreements",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("description", sa.String(length=255), nullable=False),
        sa.Column("targets", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_service_agreements")),
        sa.UniqueConstraint("name", name=op.f("uq_service_agreements_name")),
    )
    with op.batch_alter_table("accounts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("service_agreement_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key(batch_op.f("fk_accounts_service_agreement_id_service_agreements"),
                                    "service_agreements", ["service_agreement_id"], ["id"], ondelete="SET NULL")
        batch_op.create_index(batch_op.f("ix_accounts_service_agreement_id"), ["service_agreement_id"], unique=False)
    with op.batch_alter_table("teams", schema=None) as batch_op:
        batch_op.add_column(sa.Column("queue_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key(batch_op.f("fk_teams_queue_id_queues"), "queues", ["queue_id"], ["id"],
                                    ondelete="SET NULL")

    # Existing tickets keep their status; `new` only becomes possible (and the default for tickets made from now).
    with op.batch_alter_table("tickets", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_tickets_status_valid"), type_="check")
        batch_op.create_check_constraint("status_valid", NEW_STATUSES)
        batch_op.add_column(sa.Column("created_by_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("first_response_due_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("first_responded_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("warn_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.create_foreign_key(batch_op.f("fk_tickets_created_by_id_users"), "users", ["created_by_id"], ["id"],
                                    ondelete="SET NULL")
        batch_op.create_index(batch_op.f("ix_tickets_team_id"), ["team_id"], unique=False)
        batch_op.create_index("ix_tickets_status_warn_at", ["status", "warn_at"], unique=False)

    op.create_table(
        "ticket_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("ticket_id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor_id", sa.Integer(), nullable=True),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(["actor_id"], ["users.id"], name=op.f("fk_ticket_events_actor_id_users"),
                                ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["ticket_id"], ["tickets.id"], name=op.f("fk_ticket_events_ticket_id_tickets"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ticket_events")),
    )
    with op.batch_alter_table("ticket_events", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_ticket_events_ticket_id"), ["ticket_id"], unique=False)


def downgrade() -> None:
    op.drop_table("ticket_events")
    # A ticket nobody worked yet was open before this revision.
    op.execute("UPDATE tickets SET status = 'open' WHERE status = 'new'")
    with op.batch_alter_table("tickets", schema=None) as batch_op:
        batch_op.drop_index("ix_tickets_status_warn_at")
        batch_op.drop_index(batch_op.f("ix_tickets_team_id"))
        batch_op.drop_constraint(batch_op.f("fk_tickets_created_by_id_users"), type_="foreignkey")
        batch_op.drop_column("warn_at")
        batch_op.drop_column("first_responded_at")
        batch_op.drop_column("first_response_due_at")
        batch_op.drop_column("created_by_id")
        batch_op.drop_constraint(op.f("ck_tickets_status_valid"), type_="check")
        batch_op.create_check_constraint("status_valid", OLD_STATUSES)
    with op.batch_alter_table("teams", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_teams_queue_id_queues"), type_="foreignkey")
        batch_op.drop_column("queue_id")
    with op.batch_alter_table("accounts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_accounts_service_agreement_id"))
        batch_op.drop_constraint(batch_op.f("fk_accounts_service_agreement_id_service_agreements"),
                                 type_="foreignkey")
        batch_op.drop_column("service_agreement_id")
    op.drop_table("service_agreements")
