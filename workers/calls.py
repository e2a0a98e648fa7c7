"""Call jobs, off the webhook's path: deriving a call from its event log, learning about a new caller."""

from __future__ import annotations

import json
import logging
from datetime import datetime

from flask import current_app
from sqlalchemy.orm import Session

from callcenter.db import asynchronous_commit
from callcenter.jobs import claim, gathered
from callcenter.redis_conn import get_redis
from callcenter.services import call_control, caller_steps, calls, recordings
from callcenter.telephony import get_provider
from workers.jobs import job_session

log = logging.getLogger(__name__)

# Calls derived per transaction by a gathering run (a run usually takes a few; after a stall it takes hundreds). A
# derivation locks its calls before it reads their events and holds them until it commits (calls.derive_calls).
# - PostgreSQL locks the calls' rows: one call a transaction, so a webhook updating a call (the pop's offer, the
#   agent's answer) waits for that call's derivation at most, never for nine others'. With ten, the bench's
#   webhooks waited on such a lock 2-11 times a run (2.2-18.8 ms); with one, not once over 2 ms. The worker's extra
#   commits cost it 2% of a core at 500 agents (16% instead of 14%).
# - SQLite has one write lock for the whole database, which a transaction holds from its first statement and every
#   webhook's insert waits for: ten keep each hold near what deriving a single call took (p99 about 40 ms in the
#   bench, 60 ms at most), and one a transaction measured no better there.
GATHERED_PER_TRANSACTION = 10
GATHERED_PER_TRANSACTION_ON = {"postgresql": 1}


def derive_calls(*call_ids: int | str) -> None:
    """Re-derive calls' status and phase times from all their events (idempotent: a second run changes nothing).

    On RQ the run takes every call gathered since the last one (`callcenter.jobs.gathered`), one to a transaction
    on PostgreSQL and ten on SQLite (GATHERED_PER_TRANSACTION): a floor's calls are a few runs a second, not a
    run per callback. Called with ids (run inline, or by hand), it derives those; without Redis the derivation
    still runs, as it needs only the database.

    Its commits do not wait for the disk (PostgreSQL): a derivation holds its calls' rows locked until it
    commits, and webhooks that update those calls (the menu's queue, the pop's agent) waited behind commits a
    stalled disk held for 100-550 ms. What a database crash takes back, `derive_lagging_calls` derives again."""
    with asynchronous_commit():
        if call_ids:
            with job_session() as session:
                calls.derive_calls(session, [int(call_id) for call_id in call_ids])
            return
        with gathered(get_redis(), calls.DERIVE_JOB_KEY) as members, job_session() as session:
            _derive_in_batches(session, [int(member) for member in members])


DERIVE_SWEEP_KEY = "derive-sweep"


def derive_lagging_calls() -> None:
    """The sweep behind `derive_calls`, enqueued by the ticker once a minute (coalesced on DERIVE_SWEEP_KEY):
    calls whose latest events no derivation has seen (`calls.lagging_call_ids`) are derived again."""
    claim(get_redis(), DERIVE_SWEEP_KEY)  # started: the ticker's next minute enqueues the next run
    with asynchronous_commit(), job_session() as session:
        lagging = calls.lagging_call_ids(session)
        if lagging:
            log.warning("deriving %d call(s) again: their derivation was lost", len(lagging))
            _derive_in_batches(session, lagging)


def _derive_in_batches(session: Session, call_ids: list[int]) -> None:
    size = GATHERED_PER_TRANSACTION_ON.get(session.get_bind().dialect.name, GATHERED_PER_TRANSACTION)
    for start in range(0, len(call_ids), size):
        calls.derive_calls(session, call_ids[start:start + size])


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


def apply_recording_status(params_json: str, received_at: str) -> None:
    """A recording status callback the webhook could not store (the database was locked or down), kept as the
    webhook would have (a repeat, or an older status, changes nothing)."""
    with job_session() as session:
        recordings.apply_status_callback(session, json.loads(params_json), now=datetime.fromisoformat(received_at))


def apply_status_callback(params_json: str, received_at: str) -> None:
    """A status callback the webhook could not store (the database was locked or down), applied as the webhook
    would have: its event appended (deduplicated, so a retry changes nothing) and, when the leg ended, the caller
    out of the ACD."""
    params = json.loads(params_json)
    with job_session() as session:
        call = calls.apply_status_callback(session, params, received_at=datetime.fromisoformat(received_at))
        if calls.normalise_status(params.get("CallStatus")) in calls.TERMINAL_STATUSES:
            caller_steps.call_ended(session, get_redis(), call.call_sid, call=call)
