"""Call recordings (started by a queue's or campaign's policy, or on demand) and the notes people put on them.

A recording is known by the carrier's RecordingSid: the row is made when we start it and completed by the
recording status callback (duplicated and out of order in real life, so every field is set at most once).
The carrier's media URL is kept here and never shown to a browser: playback goes through /recordings/<id>/audio.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from callcenter.models.base import Base, TimestampMixin, utcnow
from callcenter.models.calls import Call
from callcenter.models.users import User

RECORDING_POLICIES = ("off", "all", "on_demand")
RECORDING_STATUSES = ("in-progress", "paused", "stopped", "completed", "absent", "failed")


class Recording(TimestampMixin, Base):
    """One recording of a call leg, as the carrier reports it."""

    __tablename__ = "recordings"
    __table_args__ = (
        CheckConstraint("status in ('in-progress', 'paused', 'stopped', 'completed', 'absent', 'failed')",
                        name="status_valid"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    recording_sid: Mapped[str] = mapped_column(String(64), unique=True)
    call_sid: Mapped[str] = mapped_column(String(64), index=True)
    call_id: Mapped[int | None] = mapped_column(ForeignKey("calls.id", ondelete="SET NULL"), index=True)
    # The agent who handled the call: they, their team's supervisor and admins may play it.
    agent_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), index=True)
    # "all" (the queue's or campaign's policy), "on_demand" (an agent started it) or "voicemail" (a message).
    trigger: Mapped[str] = mapped_column(String(16), default="all")
    status: Mapped[str] = mapped_column(String(16), default="in-progress")
    duration_seconds: Mapped[int | None]
    media_url: Mapped[str | None] = mapped_column(String(500))
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    completed_at: Mapped[datetime | None]

    call: Mapped[Call | None] = relationship()
    agent: Mapped[User | None] = relationship()
    notes: Mapped[list[RecordingNote]] = relationship(back_populates="recording", cascade="all, delete-orphan",
                                                      order_by="RecordingNote.offset_seconds")


class RecordingNote(Base):
    """A remark at a moment of a recording ("at 1:05 the customer gives the order number")."""

    __tablename__ = "recording_notes"
    __table_args__ = (CheckConstraint("offset_seconds >= 0", name="offset_not_negative"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    recording_id: Mapped[int] = mapped_column(ForeignKey("recordings.id", ondelete="CASCADE"), index=True)
    author_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    offset_seconds: Mapped[int]
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    recording: Mapped[Recording] = relationship(back_populates="notes")
    author: Mapped[User | None] = relationship()
