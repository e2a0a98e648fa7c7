"""Customer analysis: each contact's recency / frequency / value scores and named segment (services.rfm)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from callcenter.models.base import Base, utcnow


class ContactRfm(Base):
    """One row per contact, rewritten by every pass of the RFM job (workers/rfm.py); read by the pop, routing
    priority and campaign lists, so none of them recomputes the scores on their own path."""

    __tablename__ = "contact_rfm"

    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"), primary_key=True)
    recency_score: Mapped[int] = mapped_column(default=1)
    frequency_score: Mapped[int] = mapped_column(default=1)
    value_score: Mapped[int] = mapped_column(default=1)
    segment: Mapped[str] = mapped_column(String(20), index=True)
    last_interaction_at: Mapped[datetime | None]
    interactions: Mapped[int] = mapped_column(default=0)  # in the frequency window
    computed_at: Mapped[datetime] = mapped_column(default=utcnow)
