"""Today's queue figures for the wallboard, computed by the same function as a queue report row for the same
period (services.reports.queue_day_figures over services.metrics), so the board and the report cannot disagree.

Formulas (docs/metrics.md, version metrics.METRICS_VERSION), per queue, over calls that entered it since local
midnight in the queue's time zone: offered, answered, within_sl, abandoned (short abandons apart), service level =
100 * within_sl / (offered - short abandons), abandon rate = 100 * abandoned / (offered - short abandons), ASA, AHT.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import redis
from sqlalchemy.orm import Session

from callcenter.models import Queue, utcnow
from callcenter.services import jobs, reports
from callcenter.services.events import publish
from callcenter.services.metrics import CallFigures, Thresholds

ALERT_MIN_OFFERED = 5  # a service level over fewer calls is noise, not a signal


@dataclass(frozen=True)
class QueueDay(CallFigures):
    """A queue's call figures for its day (the fields of metrics.CallFigures), with the queue and its target."""

    queue_id: int
    target: int

    @property
    def below_target(self) -> bool:
        return self.service_level is not None and self.offered >= ALERT_MIN_OFFERED and \
            self.service_level < self.target


def start_of_day(queue: Queue, now: datetime) -> datetime:
    zone = ZoneInfo(queue.time_zone or "UTC")
    local = now.astimezone(zone)
    return datetime.combine(local.date(), time(0), tzinfo=zone)


def today(session: Session, queue: Queue, now: datetime | None = None,
          thresholds: Thresholds | None = None) -> QueueDay:
    """The queue's figures for its local day holding `now`; `thresholds` as the reports get them (settings)."""
    now = now or utcnow()
    since = start_of_day(queue, now)
    until = datetime.combine(since.date() + timedelta(days=1), time(0), tzinfo=since.tzinfo)
    figures = reports.queue_day_figures(session, queue, since, until, thresholds or Thresholds())
    return QueueDay(**asdict(figures), queue_id=queue.id, target=queue.service_level_target)


# Today's figures of a queue are recomputed at most about once a second (a run waits this long, then RQ's
# scheduler, which looks every second, starts it): at ten calls a second they were recomputed after every call.
# The wallboard's live counts do not wait for it (queue.changed is pushed at once).
PUBLISH_DELAY_SECONDS = 1


def publish_job_key(queue_id: int) -> str:
    return f"wallboard-{queue_id}"


# A run reads all of the queue's calls of the day, so its cost grows through the day (11 ms at 350 calls, 255 ms at
# 10,000 on the reference machine). The next run waits at least this many times what the last one took: however
# long the day, a busy queue's figures keep about a twentieth of a worker's core, and they lag a little more.
RUN_SPACING = 20


def _held_until_key(queue_id: int) -> str:
    return f"cc:queue:{queue_id}:wallboard_held_until"


def seconds_to_hold(r: redis.Redis, queue_id: int, now: float) -> float:
    """How long the next run of the queue's figures must wait after the last one's cost (0: it may run now)."""
    held_until = r.get(_held_until_key(queue_id))
    return max(0.0, float(held_until) - now) if held_until else 0.0


def run_took(r: redis.Redis, queue_id: int, seconds: float, now: float) -> None:
    """A run of the queue's figures took `seconds`: hold the next one when that is more than the usual delay."""
    hold = RUN_SPACING * seconds
    if hold > PUBLISH_DELAY_SECONDS:
        r.set(_held_until_key(queue_id), now + hold, ex=int(hold) + 1)


def publish_today_later(session: Session, queue_id: int) -> None:
    """Have a job run `publish_today` once this transaction commits; one pending run per queue covers all the
    calls that changed before it starts, within a second or two."""
    jobs.defer(session, "workers.wallboard.publish_queue_today", queue_id, key=publish_job_key(queue_id),
               coalesce=True, timeout=60, delay_seconds=PUBLISH_DELAY_SECONDS)


def publish_today(session: Session, r: redis.Redis, queue_id: int, now: datetime | None = None,
                  thresholds: Thresholds | None = None) -> QueueDay | None:
    """Push today's figures; raise an alert once when the service level drops below target (and a clear)."""
    queue = session.get(Queue, queue_id)
    if queue is None:
        return None
    day = today(session, queue, now, thresholds)
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
