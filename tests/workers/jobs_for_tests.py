"""Jobs that exist only for the worker tests: one that stops mid-way until told to go on, one that always fails."""

from __future__ import annotations

import os
import time

from callcenter.models import Call
from callcenter.redis_conn import get_redis
from callcenter.services import calls
from workers.jobs import job_session

RUNS = "test:jobs:runs"
RELEASE = "test:jobs:release"
PID = "test:jobs:pid"  # the process running the job
EFFECT_KIND = "test_effect"


def effect_key(call_id: int) -> str:
    return f"{EFFECT_KIND}:{call_id}"


def record_effect_then_wait(call_id: int) -> None:
    """Commit the job's effect (an event with a dedupe key), then wait for RELEASE before finishing.

    A worker killed while it waits leaves a job whose effect happened but which RQ never saw finish: the shape
    of every job that dies between its commit and its acknowledgement.
    """
    r = get_redis()
    with job_session() as session:
        call = session.get(Call, call_id)
        calls.record_event(session, call, EFFECT_KIND, {"via": "worker"}, dedupe_key=effect_key(call_id))
        session.commit()
    r.set(PID, os.getpid())
    r.incr(RUNS)
    deadline = time.monotonic() + 120
    while not r.exists(RELEASE) and time.monotonic() < deadline:
        time.sleep(0.02)


def always_fails(call_id: int) -> None:
    raise RuntimeError(f"this job cannot succeed (call {call_id})")
