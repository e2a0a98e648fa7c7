"""Every attempt to dial a callback: who dialled, when, with which carrier leg, and how it ended."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from callcenter.models.base import Base, utcnow
from callcenter.models.users import User
from callcenter.models.work import Callback

ATTEMPT_RESULTS = ("pending", "dialing", "answered", "no_answer", "failed", "interrupted")


class CallbackAttempt(Base):
    """One dial of a callback. `pending` → `dialing` is the claim, committed before the carrier is asked, so a
    job that runs again (a worker killed mid-dial) finds the dial taken and never calls the customer twice."""

    __tablename__ = "callback_attempts"
    __table_args__ = (
        UniqueConstraint("callback_id", "attempt", name="uq_callback_attempts_callback_attempt"),
        CheckConstraint("result in ('pending', 'dialing', 'answered', 'no_answer', 'failed', 'interrupted')",
                        name="result_valid"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    callback_id: Mapped[int] = mapped_column(ForeignKey("callbacks.id", ondelete="CASCADE"), index=True)
    attempt: Mapped[int]
    entry_id: Mapped[str] = mapped_column(String(64))
    agent_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    claimed_at: Mapped[datetime | None]
    ended_at: Mapped[datetime | None]
    call_sid: Mapped[str | None] = mapped_column(String(64), index=True)
    # Indexed: the ticker looks for stalled dials (`dialing` without a leg) every second.
    result: Mapped[str] = mapped_column(String(16), default="pending", index=True)

    callback: Mapped[Callback] = relationship()
    agent: Mapped[User | None] = relationship()
