"""Call jobs, off the webhook's path: deriving a call from its event log, learning about a new caller."""

from __future__ import annotations

from flask import current_app

from callcenter.jobs import claim
from callcenter.redis_conn import get_redis
from callcenter.services import caller_steps, calls
from workers.jobs import job_session


def derive_calls(*call_ids: int) -> None:
    """Re-derive calls' status and phase times from all their events (idempotent: a second run changes nothing).

    Claimed as it starts: events appended from now on enqueue another run."""
    r = get_redis()
    for call_id in call_ids:
        claim(r, calls.derive_job_key(call_id))
    with job_session() as session:
        calls.derive_calls(session, call_ids)


def learn_caller(call_sid: str) -> None:
    """While a new caller listens to the menu: the CRM facts that set their place in line, and their card for the
    screen-pop."""
    with job_session() as session:
        caller_steps.learn_caller(session, get_redis(), call_sid, current_app.config["DEFAULT_REGION"])
