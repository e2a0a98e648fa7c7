"""Agent jobs: the state history moves from Redis's log into the database here, not in webhooks."""

from __future__ import annotations

from callcenter.jobs import claim
from callcenter.redis_conn import get_redis
from callcenter.services import agent_state
from workers.jobs import job_session


def flush_state_log() -> None:
    """Persist logged agent transitions and publish them ("agent.state_changed"); repeats find nothing to do."""
    r = get_redis()
    claim(r, agent_state.FLUSH_JOB_KEY)
    with job_session() as session:
        agent_state.flush_log(session, r)
