"""Today's queue figures for the wallboard, computed from the call records (the same log reports use).

Formulas, per queue, over calls enqueued since local midnight in the queue's time zone:
    offered      = calls that entered the queue
    answered     = offered calls an agent answered
    within_sl    = answered calls whose wait (agent answered - enqueued) <= the queue's service_level_seconds
    abandoned    = offered calls that ended unanswered, minus those that left for a callback or a voicemail
    service_level = 100 * within_sl / offered        (None while nothing was offered)
    abandon_rate  = 100 * abandoned / offered
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import redis
from sqlalchemy import select
from sqlalchemy.orm import Session

from callcenter.models import Call, CallEvent, Queue, utcnow
from callcenter.services import jobs
from callcenter.services.events import publish

LEFT_BY_CHOICE = ("callback_requested", "voicemail")
ALERT_MIN_OFFERED = 5  # a service level over fewer calls is noise, not a signal


@dataclass(frozen=True)
class QueueDay:
    queue_id: int
    offered: int
    answered: int
    within_sl: int
    abandoned: int
    service_level: float | None
    abandon_rate: float | None
    target: int

    @property
    def below_target(self) -> bool:
        return self.service_level is not None and self.offered >= ALERT_MIN_OFFERED and \
            self.service_level < self.target


def start_of_day(queue: Queue, now: datetime) -> datetime:
    zone = ZoneInfo(queue.time_zone or "UTC")
    local = now.astimezone(zone)
    return datetime.combine(local.date(), time(0), tzinfo=zone)


def today(session: Session, queue: Queue, now: datetime | None = None) -> QueueDay:
    now = now or utcnow()
    since = start_of_day(queue, now)
    offered_calls = session.execute(
        select(Call.id, Call.enqueued_at, Call.agent_answered_at, Call.ended_at)
        .where(Call.queue_id == queue.id, Call.enqueued_at.is_not(None), Call.enqueued_at >= since)
    ).all()
    ids = [row.id for row in offered_calls]
    chose_to_leave = set(session.scalars(
        select(CallEvent.call_id).where(CallEvent.call_id.in_(ids), CallEvent.kind.in_(LEFT_BY_CHOICE))
    ).all()) if ids else set()
    threshold = timedelta(seconds=queue.service_level_seconds)
    answered = [r for r in offered_calls if r.agent_answered_at is not None]
    within = [r for r in answered if r.agent_answered_at - r.enqueued_at <= threshold]
    abandoned = [r for r in offered_calls
                 if r.agent_answered_at is None and r.ended_at is not None and r.id not in chose_to_leave]
    offered = len(offered_calls)
    return QueueDay(
        queue_id=queue.id,
        offered=offered,
        answered=len(answered),
        within_sl=len(within),
        abandoned=len(abandoned),
        service_level=round(100 * len(within) / offered, 1) if offered else None,
        abandon_rate=round(100 * len(abandoned) / offered, 1) if offered else None,
        target=queue.service_level_target,
    )


def publish_job_key(queue_id: int) -> str:
    return f"wallboard-{queue_id}"


def publish_today_later(session: Session, queue_id: int) -> None:
    """Have a job run `publish_today` once this transaction commits; one pending run per queue covers all the
    calls that changed before it starts."""
    jobs.defer(session, "workers.wallboard.publish_queue_today", queue_id, key=publish_job_key(queue_id),
               coalesce=True, timeout=60)


def publish_today(session: Session, r: redis.Redis, queue_id: int, now: datetime | None = None) -> QueueDay | None:
    """Push today's figures; raise an alert once when the service level drops below target (and a clear)."""
    queue = session.get(Queue, queue_id)
    if queue is None:
        return None
    day = today(session, queue, now)
    publish("queue.stats", **asdict(day), name=queue.name)
    flag = f"cc:queue:{queue_id}:sl_alert"
    if day.below_target and r.set(flag, "1", nx=True, ex=24 * 3600):
        publish("queue.alert", queue_id=queue_id, name=queue.name, service_level=day.service_level,
                target=day.target, active=True,
                message=f"{queue.name}: service level {day.service_level}% is below the {day.target}% target")
    elif not day.below_target and r.delete(flag):
        publish("queue.alert", queue_id=queue_id, name=queue.name, service_level=day.service_level,
                target=day.target, active=False, message=f"{queue.name}: service level back on target")
    return day


def as_dict(day: QueueDay) -> dict[str, Any]:
    return {**asdict(day), "below_target": day.below_target}
