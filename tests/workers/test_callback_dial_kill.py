"""Acceptance: an RQ worker killed while dialling a callback does not call the customer twice.

The product's worker (`python -m callcenter worker --burst`, its own process) takes the dial job of a callback an
agent answered. The carrier emulator runs in this test process, its REST API served over real HTTP (given to the
worker as SIM_REST_URL); the participant request is carried out (the customer's phone rings) but its answer is held
back, and the worker is killed with SIGKILL while it waits for it: the worst moment, the carrier placed the call and
the product never learned its CallSid. The customer is busy, so that leg ends at once. RQ then gives the job back
to its retry policy and another worker runs it again. The customer must have been called exactly once, and the
attempt must still learn its leg and its outcome.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from rq import Queue, SimpleWorker
from rq.job import Job, JobStatus
from rq.registry import StartedJobRegistry
from sqlalchemy import select
from werkzeug.serving import make_server

from callcenter.models import Callback, CallbackAttempt, utcnow
from callcenter.redis_conn import get_redis
from callcenter.services import agent_legs, agent_state, callbacks
from callcenter.services.dialing_gate import DialRules
from callcenter.telephony.sim.testing import sim_carrier
from tests.support.servers import free_port, wait_until

__all__ = ["sim_carrier"]

ROOT = Path(__file__).resolve().parents[2]
NUMBER = "+18005550100"
CUSTOMER = "+14155550166"
ACCOUNT_SID = "AC" + "0" * 31 + "9"
AUTH_TOKEN = "c" * 32


@pytest.fixture
def app_config(app_config):
    return {**app_config, "JOBS_INLINE": False, "TELEPHONY_PROVIDER": "sim", "SIM_TRANSPORT": "wsgi",
            "SIM_SPEED": 25, "SIM_PHONE_NUMBERS": [NUMBER], "SIM_ACCOUNT_SID": ACCOUNT_SID,
            "SIM_AUTH_TOKEN": AUTH_TOKEN}


class HeldParticipantAnswers:
    """In front of the carrier's REST API: a participant request is carried out, then its answer waits until
    `release` is set (the dialling worker is killed meanwhile). Counts those requests."""

    def __init__(self, app) -> None:
        self.app = app
        self.arrived = threading.Event()
        self.release = threading.Event()
        self.requests = 0

    def __call__(self, environ, start_response):
        if not (environ["REQUEST_METHOD"] == "POST" and environ["PATH_INFO"].endswith("/Participants.json")):
            return self.app(environ, start_response)
        answer: dict = {}

        def keep(status, headers, exc_info=None):
            answer["start"] = (status, headers)
            return lambda data: None

        body = b"".join(self.app(environ, keep))
        self.requests += 1
        self.arrived.set()
        self.release.wait(timeout=60)
        start_response(*answer["start"])
        return [body]


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=20)


@pytest.mark.timeout(180)
def test_a_worker_killed_while_dialling_a_callback_does_not_call_the_customer_twice(
        app, session, factory, sim_carrier, tmp_path):
    r = get_redis(app)
    line = factory.demo_line()
    bob = factory.user(skills={"sales": 5}, username="bob")
    agent_state.login(session, r, bob.id)
    # Busy: the leg ends at once, so the conference no longer holds a "customer" participant when the job runs
    # again and nothing but the product's own claim can stop a second call.
    sim_carrier.phone(CUSTOMER, answer="busy", ring_seconds=0.2)
    booked = Callback(phone_e164=CUSTOMER, queue_id=line["Sales"].id, status="scheduled", requested_at=utcnow(),
                      due_at=utcnow(), notes="Wants a quote")
    session.add(booked)
    session.commit()
    # Due: released into Sales and offered to Bob; Bob answers (the /agent/answer step): the dial job is queued.
    # The test app's calling hours (all day): the gate's defaults would put a Pacific number off at night.
    assert callbacks.release_due_callbacks(session, r, rules=DialRules.from_config(app.config)) == [booked.id]
    entry_id = callbacks.entry_id_of(booked)
    agent_legs.agent_answered(session, r, agent_id=bob.id, entry_id=entry_id, agent_leg_sid="CA" + "b" * 32)
    queue = Queue("callbacks", connection=r)
    [job_id] = queue.get_job_ids()

    rest = HeldParticipantAnswers(app.wsgi_app)
    port = free_port()
    server = make_server("127.0.0.1", port, rest, threaded=True)
    threading.Thread(target=server.serve_forever, name="carrier-rest", daemon=True).start()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TWILIO_", "SIM_"))}
    env.update(PYTHONPATH=str(ROOT), DATABASE_URL=app.config["DATABASE_URL"], REDIS_URL=app.config["REDIS_URL"],
               CALLCENTER_INSTANCE=str(tmp_path / "worker"), SECRET_KEY="test-secret", TELEPHONY_PROVIDER="sim",
               SIM_ACCOUNT_SID=ACCOUNT_SID, SIM_AUTH_TOKEN=AUTH_TOKEN, SIM_PHONE_NUMBERS=NUMBER,
               SIM_REST_URL=f"http://localhost:{port}/sim", PUBLIC_BASE_URL=app.config["PUBLIC_BASE_URL"],
               SEED_DEMO="false", DIAL_CALLING_HOURS="00:00-24:00")
    log = tmp_path / "worker.log"
    try:
        with log.open("ab") as out:
            worker = subprocess.Popen([sys.executable, "-m", "callcenter", "worker", "--burst"], env=env, cwd=ROOT,
                                      stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            wait_until(rest.arrived.is_set, timeout=90,
                       message=f"the worker to ask the carrier for the customer (log: {log.read_text()[-2000:]})")
            session.expire_all()
            attempt = session.scalars(select(CallbackAttempt)).one()
            # Claimed before the carrier was asked; the busy leg may already have reported itself through its status
            # callbacks (which name the attempt) and ended it.
            assert attempt.claimed_at is not None and attempt.result in ("dialing", "no_answer")
        finally:
            _stop(worker)  # SIGKILL while it waits for the carrier's answer
        assert worker.returncode == -signal.SIGKILL
        rest.release.set()
        assert job_id in StartedJobRegistry(queue=queue).get_job_ids()  # RQ believes it is still running
        wait_until(lambda: session.get(CallbackAttempt, attempt.id).result == "no_answer" or session.expire_all(),
                   message="the busy customer's leg to end the attempt")

        # The next worker's maintenance finds the execution past its heartbeat and gives the job back to its retry
        # policy (run as it would happen once the heartbeat expired); the retry runs in another worker.
        StartedJobRegistry(queue=queue).cleanup(timestamp=time.time() + 3600)
        job = Job.fetch(job_id, connection=r)
        if job.get_status() == JobStatus.SCHEDULED:
            queue.scheduled_job_registry.remove(job)
            queue.enqueue_job(job)
        SimpleWorker([queue], connection=r).work(burst=True)
        assert job.get_status(refresh=True) == JobStatus.FINISHED
    finally:
        rest.release.set()
        server.shutdown()

    to_customer = [c for c in sim_carrier.calls.values() if c.to == CUSTOMER]
    assert len(to_customer) == 1 and rest.requests == 1
    # The leg the dead worker never learned reported itself (its status callbacks name the attempt), and its end
    # closed the attempt: the callback is tried again later, as a new attempt.
    session.expire_all()
    attempt = session.get(CallbackAttempt, attempt.id)
    assert (attempt.call_sid, attempt.result) == (to_customer[0].sid, "no_answer")
    assert callbacks.callback_of_leg(r, to_customer[0].sid) == entry_id
    callback = session.get(Callback, booked.id)
    assert (callback.status, callback.attempts) == ("scheduled", 1)
