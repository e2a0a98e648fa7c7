"""Call jobs, off the webhook's path: deriving a call from its event log, learning about a new caller."""

from __future__ import annotations

import json
import logging
from datetime import datetime

import redis
from flask import current_app

from callcenter.jobs import claim
from callcenter.redis_conn import get_redis
from callcenter.services import call_control, caller_steps, calls
from callcenter.telephony import get_provider
from workers.jobs import job_session

log = logging.getLogger(__name__)


def derive_calls(*call_ids: int) -> None:
    """Re-derive calls' status and phase times from all their events (idempotent: a second run changes nothing).

    Claimed as it starts: events appended from now on enqueue another run. Without Redis (run inline while it is
    down) the derivation still runs: it needs only the database."""
    try:
        r = get_redis()
        for call_id in call_ids:
            claim(r, calls.derive_job_key(call_id))
    except redis.RedisError:
        log.warning("could not claim the derivation of calls %s (Redis down); deriving anyway", call_ids)
    with job_session() as session:
        calls.derive_calls(session, call_ids)


def end_abandoned_customer(conference_name: str) -> None:
    """A click-to-call's conference ended while its customer still rang: hang that leg up (idempotent)."""
    with job_session() as session:
        ended = call_control.end_abandoned_customer(session, get_provider(), conference_name)
    if ended:
        log.info("ended customer leg %s of conference %s: the agent had left", ended, conference_name)


def learn_caller(call_sid: str) -> None:
    """While a new caller listens to the menu: the CRM facts that set their place in line, and their card for the
    screen-pop."""
    with job_session() as session:
        caller_steps.learn_caller(session, get_redis(), call_sid, current_app.config["DEFAULT_REGION"])


def apply_status_callback(params_json: str, received_at: str) -> None:
    """A status callback the webhook could not store (the database was locked or down), applied as the webhook
    would have: its event appended (deduplicated, so a retry changes nothing) and, when the leg ended, the caller
    out of the ACD."""
    params = json.loads(params_json)
    with job_session() as session:
        call = calls.apply_status_callback(session, params, received_at=datetime.fromisoformat(received_at))
        if calls.normalise_status(params.get("CallStatus")) in calls.TERMINAL_STATUSES:
            caller_steps.call_ended(session, get_redis(), call.call_sid)
