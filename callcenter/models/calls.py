"""Call detail records (one per call and leg), the append-only call event log, dispositions."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, CheckConstraint, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from callcenter.models.base import Base, TimestampMixin, utcnow
from callcenter.models.crm import Contact
from callcenter.models.routing import Queue
from callcenter.models.users import User

CALL_DIRECTIONS = ("inbound", "outbound-api", "outbound-dial")


class Disposition(Base):
    """How a call ended from the business's point of view (sale, resolved, wrong number, ...)."""

    __tablename__ = "dispositions"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)
    label: Mapped[str] = mapped_column(String(100))
    active: Mapped[bool] = mapped_column(default=True)


class Call(TimestampMixin, Base):
    """One call leg as the carrier knows it (CallSid), with the time of each phase."""

    __tablename__ = "calls"
    __table_args__ = (
        CheckConstraint(
            "direction in ('inbound', 'outbound-api', 'outbound-dial')", name="direction_valid"
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    call_sid: Mapped[str] = mapped_column(String(64), unique=True)
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("calls.id", ondelete="SET NULL"), index=True)
    direction: Mapped[str] = mapped_column(String(16))
    from_number: Mapped[str] = mapped_column(String(32), index=True)
    to_number: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(20), default="queued")
    queue_id: Mapped[int | None] = mapped_column(ForeignKey("queues.id", ondelete="SET NULL"), index=True)
    agent_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), index=True)
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("contacts.id", ondelete="SET NULL"), index=True)
    conference_name: Mapped[str | None] = mapped_column(String(64))
    ivr_path: Mapped[list[Any]] = mapped_column(JSON, default=list)
    # The language the caller chose in the IVR, as a locale code ("zh_Hans", "en"); None when they chose none.
    language: Mapped[str | None] = mapped_column(String(16))
    # Phases, each set from the first event that proves it (see services.calls).
    started_at: Mapped[datetime | None]
    ringing_at: Mapped[datetime | None]
    answered_at: Mapped[datetime | None]
    enqueued_at: Mapped[datetime | None]
    offered_at: Mapped[datetime | None]
    agent_answered_at: Mapped[datetime | None]
    ended_at: Mapped[datetime | None]
    wrap_up_started_at: Mapped[datetime | None]
    wrap_up_ended_at: Mapped[datetime | None]
    hold_seconds: Mapped[int] = mapped_column(default=0)
    duration_seconds: Mapped[int | None]
    disposition_id: Mapped[int | None] = mapped_column(ForeignKey("dispositions.id", ondelete="SET NULL"))
    notes: Mapped[str] = mapped_column(Text, default="")
    recording_sid: Mapped[str | None] = mapped_column(String(64))
    recording_url: Mapped[str | None] = mapped_column(String(500))
    # When a derivation last read the call's events (None: never): the sweep finds the events recorded after it.
    derived_at: Mapped[datetime | None]
    # The outbound campaign that placed this call (None for inbound and click-to-call).
    campaign_id: Mapped[int | None] = mapped_column(ForeignKey("campaigns.id", ondelete="SET NULL"), index=True)

    parent: Mapped[Call | None] = relationship(remote_side=[id])
    queue: Mapped[Queue | None] = relationship()
    agent: Mapped[User | None] = relationship()
    contact: Mapped[Contact | None] = relationship()
    disposition: Mapped[Disposition | None] = relationship()


class CallEvent(Base):
    """Append-only: everything that happened to a call, in arrival order. Reports are computed from it.

    `dedupe_key` makes a repeated carrier callback a no-op (unique), whatever order it arrives in.
    """

    __tablename__ = "call_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    call_id: Mapped[int | None] = mapped_column(ForeignKey("calls.id", ondelete="CASCADE"), index=True)
    call_sid: Mapped[str] = mapped_column(String(64), index=True)
    kind: Mapped[str] = mapped_column(String(40))
    occurred_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    recorded_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)  # the derivation sweep's window
    dedupe_key: Mapped[str | None] = mapped_column(String(200), unique=True)
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)

    call: Mapped[Call | None] = relationship()
