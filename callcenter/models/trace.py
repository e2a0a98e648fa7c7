"""Routing and dialing traces: why a call went to its queue and agent, or why the dialer placed it then.

Written when the decision is taken: the ACD captures its decision in Redis (services.routing_trace) and a job
moves it here; the dialer, already off the webhook path, writes its rows directly. Append-only.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from callcenter.models.base import Base, utcnow

TRACE_KINDS = ("queued", "offered", "dialled")


class RoutingTrace(Base):
    __tablename__ = "routing_traces"
    __table_args__ = (Index("ix_routing_traces_call_decided", "call_sid", "decided_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    # The ACD entry id: the CallSid, or "cb-<CallSid>" for a queued callback.
    call_sid: Mapped[str] = mapped_column(String(80))
    kind: Mapped[str] = mapped_column(String(16))
    decided_at: Mapped[datetime] = mapped_column(default=utcnow)
    queue_id: Mapped[int | None] = mapped_column(ForeignKey("queues.id", ondelete="SET NULL"))
    agent_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    # One decision once, however often the flush job runs.
    dedupe_key: Mapped[str] = mapped_column(String(160), unique=True)
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
