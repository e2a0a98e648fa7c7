"""Scheduled reports: who gets which report by e-mail, how often, and the last period sent (so a job run twice
sends a period once)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from callcenter.models.base import Base, utcnow
from callcenter.models.users import User


class ReportSchedule(Base):
    """Every `every` (day or week) once it is over, the report `kind` for it, per `interval`, mailed as CSV to
    `email`; computed in the owner's scope and time zone."""

    __tablename__ = "report_schedules"
    __table_args__ = (
        CheckConstraint("kind in ('queues', 'teams', 'agents', 'campaigns')", name="kind_valid"),
        CheckConstraint("every in ('day', 'week')", name="every_valid"),
        CheckConstraint("interval in ('15m', 'hour', 'day', 'week')", name="interval_valid"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    every: Mapped[str] = mapped_column(String(8), default="day")
    interval: Mapped[str] = mapped_column(String(8), default="hour")
    email: Mapped[str] = mapped_column(String(254))
    active: Mapped[bool] = mapped_column(default=True)
    # The start (ISO date, owner's time zone) of the last period mailed.
    last_period: Mapped[str | None] = mapped_column(String(10))
    last_sent_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    owner: Mapped[User] = relationship()
