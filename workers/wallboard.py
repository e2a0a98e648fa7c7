"""Wallboard jobs: today's queue figures are SQL over the day's calls, computed here, not in webhooks."""

from __future__ import annotations

import math
import time
import uuid

from flask import current_app

from callcenter.jobs import claim, enqueue
from callcenter.redis_conn import get_redis
from callcenter.services import queue_stats
from callcenter.services.jobs import Deferred
from callcenter.services.metrics import Thresholds
from workers.jobs import job_session

HELD = 1  # the second argument of a run that already waited its turn


def publish_queue_today(queue_id: int, held: int = 0) -> None:
    """Push today's figures (and a service-level alert) for one queue; one pending run covers many calls.

    After a costly run (a long day's calls) the next one waits its turn (queue_stats.RUN_SPACING): it is put back
    in RQ's schedule once, still pending, so the calls that change meanwhile add no other run."""
    r = get_redis()
    key = queue_stats.publish_job_key(queue_id)
    hold = 0.0 if held else queue_stats.seconds_to_hold(r, queue_id, time.time())
    if hold > 0:
        enqueue(current_app, [Deferred(
            "workers.wallboard.publish_queue_today", (queue_id, HELD), key=f"{key}-held",
            job_id=f"{key}-held-{uuid.uuid4().hex[:12]}", timeout=60, delay_seconds=math.ceil(hold))])
        return
    claim(r, key)
    started = time.monotonic()
    with job_session() as session:
        queue_stats.publish_today(session, r, queue_id, thresholds=Thresholds.from_config(current_app.config))
    queue_stats.run_took(r, queue_id, time.monotonic() - started, time.time())
