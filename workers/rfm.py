"""Customer analysis: the RFM pass, a job the ticker enqueues once an hour (at most one per hour, whatever the
number of workers). Recency is counted in days, so an hour's lag changes no segment that matters."""

from __future__ import annotations

from datetime import datetime

import redis
from flask import Flask

from callcenter.jobs import enqueue
from callcenter.services import rfm
from callcenter.services.jobs import Deferred
from workers.jobs import job_session

RFM_JOB = "workers.rfm.compute_rfm"
RFM_HOUR_KEY = "cc:rfm:hour:{hour}"
RFM_TIMEOUT_SECONDS = 1800


def compute_rfm(now: datetime | str | None = None) -> dict[str, int]:
    """Score every contact and store its segment (services.rfm.compute_all); idempotent, so a retried or
    doubled run only rewrites the same rows. `now` (a datetime or ISO text) lets tests fix the clock."""
    moment = datetime.fromisoformat(now) if isinstance(now, str) else now
    with job_session() as session:
        return rfm.compute_all(session, moment)


def schedule_rfm(app: Flask, r: redis.Redis, now: float) -> bool:
    """Enqueue this hour's RFM pass unless a worker's ticker did (a key per hour, set once)."""
    hour = int(now // 3600)
    key = RFM_HOUR_KEY.format(hour=hour)
    if not r.set(key, repr(now), nx=True, ex=3 * 3600):
        return False
    try:
        enqueue(app, [Deferred(RFM_JOB, (), key=f"rfm-{hour}", queue="maintenance", timeout=RFM_TIMEOUT_SECONDS)])
    except redis.RedisError:
        r.delete(key)  # not enqueued: the next pass tries again
        raise
    return True
