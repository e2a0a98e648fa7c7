"""Wallboard jobs: today's queue figures are SQL over the day's calls, computed here, not in webhooks."""

from __future__ import annotations

from flask import current_app

from callcenter.jobs import claim
from callcenter.redis_conn import get_redis
from callcenter.services import queue_stats
from callcenter.services.metrics import Thresholds
from workers.jobs import job_session


def publish_queue_today(queue_id: int) -> None:
    """Push today's figures (and a service-level alert) for one queue; one pending run covers many calls."""
    r = get_redis()
    claim(r, queue_stats.publish_job_key(queue_id))
    with job_session() as session:
        queue_stats.publish_today(session, r, queue_id, thresholds=Thresholds.from_config(current_app.config))
