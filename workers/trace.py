"""Routing trace jobs: the ACD's captured decisions move from Redis into the database here, not in webhooks."""

from __future__ import annotations

from callcenter.jobs import claim
from callcenter.redis_conn import get_redis
from callcenter.services import routing_trace
from workers.jobs import job_session


def flush_routing_trace() -> None:
    """Persist captured routing decisions; repeats find nothing to do (and stored ones are not stored again)."""
    r = get_redis()
    claim(r, routing_trace.FLUSH_JOB_KEY)
    with job_session() as session:
        routing_trace.flush(session, r)
