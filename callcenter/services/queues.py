"""Queues as every call reads them: immutable snapshots from the process cache, not rows per webhook.

A snapshot carries what the hot path needs (hours, holidays, timers, priority rules, required skills) and is
usable wherever a `Queue` row is read for those fields (business hours, priority). Writing a queue, its skills or its
holidays drops the snapshots in every process once the write commits (config_cache.watch).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload

from callcenter.models import Holiday, Queue, QueueSkill
from callcenter.services import config_cache
from callcenter.services.errors import NotFound
from callcenter.services.messages import t


@dataclass(frozen=True)
class QueueSnapshot:
    """A queue's settings at one moment (read-only; `holidays` are the closed days)."""

    id: int
    name: str
    active: bool
    time_zone: str
    business_hours: dict[str, Any]
    holidays: tuple[date, ...]
    priority_rules: dict[str, Any]
    base_priority: int
    wrap_up_seconds: int
    max_wait_seconds: int
    reservation_timeout_seconds: int
    sticky_agent_wait_seconds: int
    service_level_seconds: int
    skills: dict[int, int] = field(default_factory=dict)  # skill id -> minimum level
    recording_policy: str = "off"
    callback_owner_wait_seconds: int = 300
    abandoned_callbacks: bool = False
    abandoned_callback_min_wait_seconds: int = 30

    @classmethod
    def of(cls, queue: Queue) -> QueueSnapshot:
        return cls(
            id=queue.id, name=queue.name, active=queue.active, time_zone=queue.time_zone or "UTC",
            business_hours=dict(queue.business_hours or {}), holidays=tuple(sorted(h.day for h in queue.holidays)),
            priority_rules=dict(queue.priority_rules or {}), base_priority=int(queue.base_priority or 0),
            wrap_up_seconds=queue.wrap_up_seconds, max_wait_seconds=queue.max_wait_seconds,
            reservation_timeout_seconds=queue.reservation_timeout_seconds,
            sticky_agent_wait_seconds=queue.sticky_agent_wait_seconds,
            service_level_seconds=queue.service_level_seconds,
            skills={s.skill_id: s.min_level for s in queue.skills},
            recording_policy=queue.recording_policy or "off",
            callback_owner_wait_seconds=queue.callback_owner_wait_seconds,
            abandoned_callbacks=bool(queue.abandoned_callbacks),
            abandoned_callback_min_wait_seconds=queue.abandoned_callback_min_wait_seconds,
        )


for _model in (Queue, QueueSkill, Holiday):
    config_cache.watch(_model, config_cache.QUEUES)


def _load(session: Session, *condition: Any) -> QueueSnapshot | None:
    queue = session.scalar(select(Queue).where(*condition)
                           .options(selectinload(Queue.skills), selectinload(Queue.holidays)))
    return QueueSnapshot.of(queue) if queue is not None else None


def queue_snapshot(session: Session, queue_id: int) -> QueueSnapshot | None:
    """The queue with this id, from the process cache (None when there is none; a miss is not cached)."""
    return config_cache.cache.get(config_cache.QUEUES, ("id", queue_id), lambda: _load(session, Queue.id == queue_id))


def queue_named(session: Session, name: str) -> QueueSnapshot | None:
    """The queue with this name, from the process cache (None when there is none; a miss is not cached)."""
    return config_cache.cache.get(config_cache.QUEUES, ("name", name), lambda: _load(session, Queue.name == name))


def list_queues(session: Session, *, limit: int = 25, offset: int = 0) -> tuple[list[Queue], int]:
    """Every queue by name, a page at a time, and how many there are (their settings are no secret to staff)."""
    total = session.scalar(select(func.count()).select_from(Queue)) or 0
    rows = session.scalars(select(Queue).options(selectinload(Queue.skills), selectinload(Queue.holidays))
                           .order_by(Queue.name, Queue.id).limit(limit).offset(offset))
    return list(rows), total


def get_queue(session: Session, queue_id: int) -> Queue:
    """One queue with its skills and holidays; NotFound when there is none."""
    queue = session.scalar(select(Queue).where(Queue.id == queue_id)
                           .options(selectinload(Queue.skills), selectinload(Queue.holidays)))
    if queue is None:
        raise NotFound(t("Queue %(queue_id)s not found", queue_id=queue_id), field="queue_id")
    return queue
