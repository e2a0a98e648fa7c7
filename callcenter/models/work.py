"""Work that follows a call: callbacks, service tickets, outbound campaigns."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, CheckConstraint, ForeignKey, Index, String, Text, UniqueConstraint, false
from sqlalchemy.orm import Mapped, mapped_column, relationship

from callcenter.models.base import Base, TimestampMixin, utcnow
from callcenter.models.calls import Call, Disposition
from callcenter.models.crm import Account, Contact
from callcenter.models.routing import Queue
from callcenter.models.users import Team, User


class Callback(TimestampMixin, Base):
    """A promise to call someone back; `requested_at` keeps a queued caller's original place."""

    __tablename__ = "callbacks"
    __table_args__ = (
        CheckConstraint(
            "status in ('scheduled', 'offered', 'dialing', 'completed', 'failed', 'cancelled')",
            name="status_valid",
        ),
        Index("ix_callbacks_phone_queue_status", "phone_e164", "queue_id", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("contacts.id", ondelete="SET NULL"), index=True)
    phone_e164: Mapped[str] = mapped_column(String(20))
    queue_id: Mapped[int | None] = mapped_column(ForeignKey("queues.id", ondelete="SET NULL"))
    call_id: Mapped[int | None] = mapped_column(ForeignKey("calls.id", ondelete="SET NULL"), index=True)
    agent_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), index=True)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    requested_at: Mapped[datetime]
    due_at: Mapped[datetime] = mapped_column(index=True)
    status: Mapped[str] = mapped_column(String(16), default="scheduled")
    attempts: Mapped[int] = mapped_column(default=0)
    notes: Mapped[str] = mapped_column(Text, default="")
    # The agent it is offered to first (then the whole queue after the queue's owner wait); None: the queue's.
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), index=True)
    # How it was booked: caller (in the IVR), wrap_up, abandoned (automatic), web (public form), api.
    source: Mapped[str] = mapped_column(String(16), default="caller")

    contact: Mapped[Contact | None] = relationship()
    queue: Mapped[Queue | None] = relationship()
    call: Mapped[Call | None] = relationship()
    agent: Mapped[User | None] = relationship(foreign_keys=[agent_id])
    owner: Mapped[User | None] = relationship(foreign_keys=[owner_id])


TICKET_STATUSES = ("new", "open", "pending", "resolved", "closed")
TICKET_PRIORITIES = ("low", "normal", "high", "urgent")


class ServiceAgreement(TimestampMixin, Base):
    """An SLA tier: per priority, the first-response and resolution targets in business minutes.

    `targets` is `{"urgent": {"first_response": 30, "resolution": 240}, ...}` (services.service_agreements checks
    it); an account points at one tier, accounts without one get the default tier setting.
    """

    __tablename__ = "service_agreements"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    description: Mapped[str] = mapped_column(String(255), default="")
    targets: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class Ticket(TimestampMixin, Base):
    """A service ticket: workflow status, who has it, and its SLA deadlines (services.tickets owns the rules)."""

    __tablename__ = "tickets"
    __table_args__ = (
        CheckConstraint("status in ('new', 'open', 'pending', 'resolved', 'closed')", name="status_valid"),
        CheckConstraint("priority in ('low', 'normal', 'high', 'urgent')", name="priority_valid"),
        Index("ix_tickets_status_warn_at", "status", "warn_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    subject: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(16), default="new", index=True)
    priority: Mapped[str] = mapped_column(String(16), default="normal")
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("contacts.id", ondelete="SET NULL"), index=True)
    account_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id", ondelete="SET NULL"), index=True)
    call_id: Mapped[int | None] = mapped_column(ForeignKey("calls.id", ondelete="SET NULL"))
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), index=True)
    team_id: Mapped[int | None] = mapped_column(ForeignKey("teams.id", ondelete="SET NULL"), index=True)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    # SLA: the deadlines are computed from the account's service agreement in the team's business hours;
    # `warn_at` is when escalation level 1 (a warning to the assignee) is due.
    first_response_due_at: Mapped[datetime | None]
    first_responded_at: Mapped[datetime | None]
    due_at: Mapped[datetime | None]
    warn_at: Mapped[datetime | None]
    resolved_at: Mapped[datetime | None]
    # Set while the ticket is `pending` (waiting on the customer): its SLA clock is stopped from then on.
    sla_paused_at: Mapped[datetime | None]
    escalation_level: Mapped[int] = mapped_column(default=0)

    contact: Mapped[Contact | None] = relationship()
    account: Mapped[Account | None] = relationship()
    assignee: Mapped[User | None] = relationship(foreign_keys=[assignee_id])
    team: Mapped[Team | None] = relationship()
    created_by: Mapped[User | None] = relationship(foreign_keys=[created_by_id])


class TicketEvent(Base):
    """One change to a ticket (created, status, assignment, priority, note, escalation, reopening): its history."""

    __tablename__ = "ticket_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"), index=True)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    kind: Mapped[str] = mapped_column(String(20))
    body: Mapped[str] = mapped_column(Text, default="")
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)

    actor: Mapped[User | None] = relationship()


class Campaign(TimestampMixin, Base):
    """An outbound campaign; services.dialing_gate applies its hours, attempt cap and consent rule to each dial."""

    __tablename__ = "campaigns"
    __table_args__ = (
        CheckConstraint("mode in ('preview', 'progressive', 'predictive')", name="mode_valid"),
        CheckConstraint("status in ('draft', 'running', 'paused', 'finished')", name="status_valid"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120), unique=True)
    mode: Mapped[str] = mapped_column(String(16), default="preview")
    status: Mapped[str] = mapped_column(String(16), default="draft")
    queue_id: Mapped[int | None] = mapped_column(ForeignKey("queues.id", ondelete="SET NULL"))
    caller_id: Mapped[str | None] = mapped_column(String(20))
    max_attempts: Mapped[int] = mapped_column(default=3)
    retry_minutes: Mapped[int] = mapped_column(default=60)
    calling_hours_start: Mapped[str] = mapped_column(String(5), default="09:00")
    calling_hours_end: Mapped[str] = mapped_column(String(5), default="20:00")
    max_abandon_rate: Mapped[float] = mapped_column(default=0.03)
    # When true, services.dialing_gate refuses a number whose campaign row has no recorded consent.
    requires_consent: Mapped[bool] = mapped_column(default=False, server_default=false())
    dial_ratio: Mapped[float] = mapped_column(default=1.0)
    script: Mapped[str] = mapped_column(Text, default="")
    # Numbers in the campaign's lists are read in this region when they are not in international form.
    default_region: Mapped[str] = mapped_column(String(2), default="US", server_default="US")
    # What a machine hears (voicemail drop) and what a live answer hears when no agent is free (abandoned call).
    voicemail_drop_text: Mapped[str] = mapped_column(Text, default="", server_default="")
    identification_text: Mapped[str] = mapped_column(Text, default="", server_default="")
    # Rolling window of the abandon rate the pacer keeps under max_abandon_rate.
    abandon_window_days: Mapped[int] = mapped_column(default=30, server_default="30")
    # Call recording: off, all or on_demand (see models.recordings).
    recording_policy: Mapped[str] = mapped_column(String(16), default="off", server_default="off")
    team_id: Mapped[int | None] = mapped_column(ForeignKey("teams.id", ondelete="SET NULL"), index=True)

    queue: Mapped[Queue | None] = relationship()
    team: Mapped[Team | None] = relationship()
    contacts: Mapped[list[CampaignContact]] = relationship(back_populates="campaign", cascade="all, delete-orphan")
    agents: Mapped[list[CampaignAgent]] = relationship(cascade="all, delete-orphan")
    dispositions: Mapped[list[CampaignDisposition]] = relationship(cascade="all, delete-orphan")


class CampaignAgent(Base):
    """An agent assigned to a campaign by name (a whole team is assigned through Campaign.team_id)."""

    __tablename__ = "campaign_agents"

    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)

    user: Mapped[User] = relationship()


class CampaignDisposition(Base):
    """What a disposition means for a lead of this campaign: final, retry after some minutes, or callback."""

    __tablename__ = "campaign_dispositions"
    __table_args__ = (CheckConstraint("outcome in ('final', 'retry', 'callback')", name="outcome_valid"),)

    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"), primary_key=True)
    disposition_id: Mapped[int] = mapped_column(ForeignKey("dispositions.id", ondelete="CASCADE"), primary_key=True)
    outcome: Mapped[str] = mapped_column(String(16), default="final")
    retry_after_minutes: Mapped[int | None]

    disposition: Mapped[Disposition] = relationship()


class ListImport(Base):
    """One CSV file being imported into a campaign's list (or into contacts when campaign_id is null).

    `report` holds one entry per rejected or flagged row so the person who imported sees why."""

    __tablename__ = "list_imports"
    __table_args__ = (
        CheckConstraint("status in ('pending', 'running', 'done', 'failed')", name="status_valid"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int | None] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"), index=True)
    filename: Mapped[str] = mapped_column(String(200), default="")
    status: Mapped[str] = mapped_column(String(16), default="pending")
    all_or_nothing: Mapped[bool] = mapped_column(default=True)
    mapping: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    total_rows: Mapped[int] = mapped_column(default=0)
    processed_rows: Mapped[int] = mapped_column(default=0)
    imported_rows: Mapped[int] = mapped_column(default=0)
    rejected_rows: Mapped[int] = mapped_column(default=0)
    report: Mapped[list[Any]] = mapped_column(JSON, default=list)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None]


class CampaignContact(Base):
    """A lead: one contact's number in one campaign, with its place in the dialing order and its attempts.

    `pending` leads are dialled from `next_attempt_at` on, by priority; `reserved` is a preview lead on an agent's
    screen; `done`, `failed` (attempts exhausted) and `blocked` (the gate refused for good) are final."""

    __tablename__ = "campaign_contacts"
    __table_args__ = (
        CheckConstraint(
            "status in ('pending', 'reserved', 'dialing', 'connected', 'done', 'failed', 'blocked')",
            name="status_valid",
        ),
        Index("ix_campaign_contacts_next", "campaign_id", "status", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"), index=True)
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"), index=True)
    phone_e164: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(default=0)
    last_attempt_at: Mapped[datetime | None]
    priority: Mapped[int] = mapped_column(default=0, server_default="0")
    last_disposition: Mapped[str | None] = mapped_column(String(40))
    # Columns of the imported row that are not contact fields, shown in the pop and merged into the script.
    custom_fields: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # The agent who booked a callback on this lead keeps it (None: any agent of the campaign).
    owner_agent_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    # The agent a preview lead is reserved for, or who was bridged to it.
    agent_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), index=True)
    import_id: Mapped[int | None] = mapped_column(ForeignKey("list_imports.id", ondelete="SET NULL"))
    next_attempt_at: Mapped[datetime | None]
    last_result: Mapped[str | None] = mapped_column(String(40))
    consent_at: Mapped[datetime | None]

    campaign: Mapped[Campaign] = relationship(back_populates="contacts")
    contact: Mapped[Contact] = relationship()


class DoNotCall(Base):
    """A number that must never be dialed: put there by us (`internal`) or from a national list (`imported`)."""

    __tablename__ = "do_not_call"
    __table_args__ = (
        UniqueConstraint("phone_e164", "source", name="uq_do_not_call_phone_e164_source"),
        CheckConstraint("source in ('internal', 'imported')", name="source_valid"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    phone_e164: Mapped[str] = mapped_column(String(20), index=True)
    source: Mapped[str] = mapped_column(String(16), default="internal")
    reason: Mapped[str] = mapped_column(String(200), default="")
    added_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    added_at: Mapped[datetime] = mapped_column(default=utcnow)


class DialAttempt(Base):
    """Every decision of the dialing gate: an attempt allowed (and later its outcome) or a refusal and its reason.

    Allowed rows are what attempt caps count; `outcome == 'abandoned'` rows start the abandon lock-out.
    """

    __tablename__ = "dial_attempts"
    __table_args__ = (Index("ix_dial_attempts_phone_at", "phone_e164", "at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    phone_e164: Mapped[str] = mapped_column(String(20))
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), index=True)
    path: Mapped[str] = mapped_column(String(20))
    allowed: Mapped[bool]
    reason: Mapped[str | None] = mapped_column(String(40))
    campaign_id: Mapped[int | None] = mapped_column(ForeignKey("campaigns.id", ondelete="SET NULL"), index=True)
    at: Mapped[datetime]
    call_sid: Mapped[str | None] = mapped_column(String(64), index=True)
    outcome: Mapped[str | None] = mapped_column(String(20))
    outcome_at: Mapped[datetime | None]
    campaign_contact_id: Mapped[int | None] = mapped_column(
        ForeignKey("campaign_contacts.id", ondelete="SET NULL"), index=True)
    # Why the dialer placed this call at that moment (the pacer's decision), shown to supervisors.
    placed_because: Mapped[str | None] = mapped_column(Text)
    # The carrier's answering-machine detection result: human, machine_start, fax, unknown, ...
    answered_by: Mapped[str | None] = mapped_column(String(32))
