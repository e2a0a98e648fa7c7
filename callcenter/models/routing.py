"""Queues: required skills, priority rules, business hours in a time zone, holidays, wrap-up."""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import JSON, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from callcenter.models.base import Base, TimestampMixin
from callcenter.models.users import Skill

# Monday..Sunday -> list of [open, close] "HH:MM" pairs, in the queue's time zone.
DEFAULT_BUSINESS_HOURS: dict[str, list[list[str]]] = {
    day: [["08:00", "18:00"]] for day in ("mon", "tue", "wed", "thu", "fri")
}


class Queue(TimestampMixin, Base):
    __tablename__ = "queues"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(80), unique=True)
    description: Mapped[str] = mapped_column(String(255), default="")
    # What agents read to callers on this queue's calls (shown in the console beside the pop).
    script: Mapped[str] = mapped_column(Text, default="")
    time_zone: Mapped[str] = mapped_column(String(64), default="UTC")
    business_hours: Mapped[dict[str, Any]] = mapped_column(JSON, default=lambda: dict(DEFAULT_BUSINESS_HOURS))
    # Priority rules: which CRM facts raise a caller's priority, and by how much.
    priority_rules: Mapped[dict[str, Any]] = mapped_column(
        JSON, default=lambda: {"vip": 10, "open_urgent_ticket": 5, "repeat_caller_24h": 2}
    )
    base_priority: Mapped[int] = mapped_column(default=0)
    wrap_up_seconds: Mapped[int] = mapped_column(default=30)
    service_level_seconds: Mapped[int] = mapped_column(default=20)
    service_level_target: Mapped[int] = mapped_column(default=80)  # percent answered within the threshold
    max_wait_seconds: Mapped[int] = mapped_column(default=600)
    reservation_timeout_seconds: Mapped[int] = mapped_column(default=15)
    sticky_agent_wait_seconds: Mapped[int] = mapped_column(default=20)
    # Callbacks: an agent's own is theirs alone this long before anyone in the queue may take it; a caller who
    # hangs up after waiting at least the minimum gets one automatically when the switch is on.
    callback_owner_wait_seconds: Mapped[int] = mapped_column(default=300)
    abandoned_callbacks: Mapped[bool] = mapped_column(default=False)
    abandoned_callback_min_wait_seconds: Mapped[int] = mapped_column(default=30)
    active: Mapped[bool] = mapped_column(default=True)
    # Call recording: off, all (the caller hears the consent prompt) or on_demand (an agent may start one).
    recording_policy: Mapped[str] = mapped_column(String(16), default="off", server_default="off")

    skills: Mapped[list[QueueSkill]] = relationship(back_populates="queue", cascade="all, delete-orphan")
    holidays: Mapped[list[Holiday]] = relationship(back_populates="queue", cascade="all, delete-orphan")


class QueueSkill(Base):
    """A skill an agent needs (at least `min_level`) to take calls from a queue."""

    __tablename__ = "queue_skills"
    __table_args__ = (UniqueConstraint("queue_id", "skill_id", name="uq_queue_skills_queue_skill"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    queue_id: Mapped[int] = mapped_column(ForeignKey("queues.id", ondelete="CASCADE"), index=True)
    skill_id: Mapped[int] = mapped_column(ForeignKey("skills.id", ondelete="CASCADE"), index=True)
    min_level: Mapped[int] = mapped_column(default=1)

    queue: Mapped[Queue] = relationship(back_populates="skills")
    skill: Mapped[Skill] = relationship()


class Holiday(Base):
    __tablename__ = "holidays"
    __table_args__ = (UniqueConstraint("queue_id", "day", name="uq_holidays_queue_day"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    queue_id: Mapped[int] = mapped_column(ForeignKey("queues.id", ondelete="CASCADE"), index=True)
    day: Mapped[date]
    name: Mapped[str] = mapped_column(String(100), default="")

    queue: Mapped[Queue] = relationship(back_populates="holidays")
