"""Deferred work really runs on RQ: webhooks answer without it, a worker does it, a killed worker's job runs again.

These tests turn JOBS_INLINE off: jobs go to RQ's queues in Redis and a worker (in-process SimpleWorker in burst
mode, or real `callcenter worker` processes) runs them. No test waits a fixed time: each polls a condition.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from rq import Queue
from rq.job import Job, JobStatus
from rq.registry import FailedJobRegistry, ScheduledJobRegistry, StartedJobRegistry
from sqlalchemy import func, select
from twilio.request_validator import RequestValidator

from callcenter.jobs import enqueue
from callcenter.models import Call, CallEvent
from callcenter.redis_conn import get_redis
from callcenter.services import calls
from callcenter.services.jobs import Deferred
from tests.support import jobs as jobs_support
from tests.support.servers import wait_until
from tests.workers import jobs_for_tests

AUTH_TOKEN = "jobs-test-auth-token"
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def app_config(app_config):
    return {**app_config, "JOBS_INLINE": False, "TELEPHONY_PROVIDER": "twilio",
            "TWILIO_ACCOUNT_SID": "AC" + "6" * 32, "TWILIO_AUTH_TOKEN": AUTH_TOKEN}


def post_signed(client, path: str, params: dict[str, str]):
    signature = RequestValidator(AUTH_TOKEN).compute_signature(f"http://localhost{path}", params)
    return client.post(path, data=params, headers={"X-Twilio-Signature": signature})


def run_queued_jobs(app) -> None:
    """Work every queued job of the default queue (a scheduled one once its delay has passed), then stop."""
    jobs_support.run_queued_jobs(app, ("default",))


def derivations_waiting(queue: Queue) -> int:
    """Derivation runs waiting: in RQ's schedule for their delay (DERIVE_DELAY_SECONDS), or queued."""
    return queue.scheduled_job_registry.count + queue.count


def test_status_webhook_answers_before_the_call_is_derived_and_a_worker_derives_it(app, client, session):
    sid = "CA" + "4" * 32
    params = {"CallSid": sid, "From": "+14155550123", "To": "+18005550100", "Direction": "inbound"}
    assert post_signed(client, "/ivr/status", {**params, "CallStatus": "ringing", "SequenceNumber": "0"}
                       ).status_code == 204
    assert post_signed(client, "/ivr/status", {**params, "CallStatus": "completed", "CallDuration": "42",
                                               "SequenceNumber": "1"}).status_code == 204

    session.expire_all()
    call = calls.get_call(session, sid)
    assert (call.status, call.ended_at, call.duration_seconds) == ("queued", None, None)  # nothing derived yet
    assert derivations_waiting(Queue("default", connection=get_redis(app))) == 1

    run_queued_jobs(app)

    session.expire_all()
    call = calls.get_call(session, sid)
    assert (call.status, call.duration_seconds) == ("completed", 42)
    assert call.ringing_at is not None and call.ended_at is not None
    assert derivations_waiting(Queue("default", connection=get_redis(app))) == 0


def test_a_repeated_callback_enqueues_no_second_derivation(app, client, session):
    sid = "CA" + "5" * 32
    params = {"CallSid": sid, "From": "+14155550123", "To": "+18005550100", "Direction": "inbound",
              "CallStatus": "ringing", "SequenceNumber": "0"}
    post_signed(client, "/ivr/status", params)
    queue = Queue("default", connection=get_redis(app))
    queued = queue.count
    post_signed(client, "/ivr/status", params)  # the carrier's retry: no new event, no new job
    assert queue.count == queued


def test_a_calls_callbacks_wait_for_one_derivation_and_a_started_one_lets_the_next_enqueue(app, client, session):
    sid = "CA" + "7" * 32
    params = {"CallSid": sid, "From": "+14155550123", "To": "+18005550100", "Direction": "inbound"}
    queue = Queue("default", connection=get_redis(app))
    for sequence, status in enumerate(("ringing", "in-progress", "completed")):
        assert post_signed(client, "/ivr/status", {**params, "CallStatus": status,
                                                   "SequenceNumber": str(sequence)}).status_code == 204
    assert derivations_waiting(queue) == 1  # three events, one pending derivation: it reads them all when it runs

    run_queued_jobs(app)
    session.expire_all()
    assert calls.get_call(session, sid).status == "completed"
    assert post_signed(client, "/ivr/status", {**params, "CallStatus": "completed", "CallDuration": "9",
                                               "SequenceNumber": "3"}).status_code == 204
    assert derivations_waiting(queue) == 1  # the first run started (claimed): a later event needs a run of its own


def test_many_calls_callbacks_wait_for_one_derivation_that_derives_them_all(app, client, session):
    queue = Queue("default", connection=get_redis(app))
    sids = ["CA" + digit * 32 for digit in "89a"]
    for sid in sids:
        params = {"CallSid": sid, "From": "+14155550123", "To": "+18005550100", "Direction": "inbound"}
        for sequence, status in enumerate(("ringing", "completed")):
            assert post_signed(client, "/ivr/status", {**params, "CallStatus": status, "CallDuration": "5",
                                                       "SequenceNumber": str(sequence)}).status_code == 204
    assert derivations_waiting(queue) == 1  # three calls, six events: one run takes them all

    run_queued_jobs(app)
    session.expire_all()
    assert [calls.get_call(session, sid).status for sid in sids] == ["completed"] * 3
    assert derivations_waiting(queue) == 0


def test_a_gathering_run_that_fails_keeps_its_members_for_its_retry_and_a_later_member_enqueues_a_run(app):
    from callcenter.jobs import gathered

    r = get_redis(app)
    item = Deferred("workers.calls.derive_calls", (), key="gather-test", coalesce=True, gather="1")
    assert len(enqueue(app, [item, replace(item, gather="2")])) == 1  # two members, one run
    with pytest.raises(RuntimeError), gathered(r, "gather-test", run_id="run-1") as members:
        assert members == ["1", "2"]
        assert len(enqueue(app, [replace(item, gather="3")])) == 1  # the run started: "3" needs the next one
        raise RuntimeError("the database went away half-way")
    with gathered(r, "gather-test", run_id="run-1") as members:  # RQ retries the same job
        assert members == ["1", "2", "3"]  # its own, and what gathered since
    with gathered(r, "gather-test", run_id="run-1") as members:  # done: nothing is taken twice
        assert members == []
    with gathered(r, "gather-test", run_id="run-2") as members:  # the run "3" enqueued finds its work done
        assert members == []


def test_a_gathering_run_derives_ten_calls_to_a_transaction_on_sqlite_and_one_on_postgresql(database_url, app,
                                                                                            monkeypatch):
    from callcenter.jobs import gathered_key
    from workers import calls as call_jobs

    get_redis(app).sadd(gathered_key(calls.DERIVE_JOB_KEY), *[str(call_id) for call_id in range(1, 26)])
    transactions: list[list[int]] = []
    monkeypatch.setattr(calls, "derive_calls", lambda _session, call_ids: transactions.append(list(call_ids)))

    with app.app_context():
        call_jobs.derive_calls()  # as RQ runs it: no ids, the gathered ones

    if database_url.startswith("postgresql"):  # row locks: a webhook waits for its own call's derivation at most
        assert [len(call_ids) for call_ids in transactions] == [1] * 25
    else:  # SQLite's one write lock, held briefly each
        assert [len(call_ids) for call_ids in transactions] == [10, 10, 5]
    assert sorted(call_id for call_ids in transactions for call_id in call_ids) == list(range(1, 26))


def test_wallboard_figures_are_one_pending_job_per_queue(app):
    r = get_redis(app)
    item = Deferred("workers.wallboard.publish_queue_today", (7,), key="wallboard-7", coalesce=True)
    first = enqueue(app, [item])
    assert enqueue(app, [item]) == []  # still pending: the queued run will see this change as well
    assert len(first) == 1
    from callcenter.jobs import claim

    claim(r, "wallboard-7")  # what the job does as it starts
    assert len(enqueue(app, [item])) == 1


def test_a_delayed_coalesced_job_waits_in_rqs_schedule_and_covers_the_changes_made_meanwhile(app):
    r = get_redis(app)
    queue = Queue("default", connection=r)
    item = Deferred("workers.wallboard.publish_queue_today", (8,), key="wallboard-8", coalesce=True,
                    delay_seconds=1)
    before = datetime.now(UTC)
    [job_id] = enqueue(app, [item])
    assert enqueue(app, [item]) == []  # waiting: it will see this change too
    assert queue.count == 0  # not runnable yet: RQ's scheduler moves it to the queue when it is due
    due = ScheduledJobRegistry(queue=queue).get_scheduled_time(job_id)  # RQ keeps whole seconds
    assert before.replace(microsecond=0) + timedelta(seconds=1) <= due <= datetime.now(UTC) + timedelta(seconds=1)


def test_after_a_costly_run_the_queues_figures_wait_their_turn_once_and_are_then_published(app, factory):
    from callcenter.jobs import pending_flag
    from callcenter.services import queue_stats
    from callcenter.services.events import bus

    queue_id = factory.demo_line()["Sales"].id
    r = get_redis(app)
    key = queue_stats.publish_job_key(queue_id)
    item = Deferred("workers.wallboard.publish_queue_today", (queue_id,), key=key, coalesce=True)
    pushed = []

    def handler(event) -> None:
        if event.name == "queue.stats":
            pushed.append(event.payload)

    bus.subscribe(handler)
    try:
        queue_stats.run_took(r, queue_id, 0.01, time.time())  # a cheap run holds nothing back
        assert queue_stats.seconds_to_hold(r, queue_id, time.time()) == 0.0
        queue_stats.run_took(r, queue_id, 10.0, time.time())  # the day's calls made the last run take 10 s
        assert 190 < queue_stats.seconds_to_hold(r, queue_id, time.time()) <= 200

        assert len(enqueue(app, [item])) == 1
        run_queued_jobs(app)  # the run finds it must wait: it is back in RQ's schedule, nothing pushed yet
        scheduled = ScheduledJobRegistry(queue=Queue("default", connection=r))
        [held] = Job.fetch_many(scheduled.get_job_ids(), connection=r)
        assert tuple(held.args) == (queue_id, 1)
        assert pushed == []
        assert r.exists(pending_flag(key))  # still pending: changes meanwhile add no other run
        assert enqueue(app, [item]) == []

        jobs_support.run_queued_jobs(app)  # its turn came (the schedule released now)
        assert [p["queue_id"] for p in pushed] == [queue_id]
        assert not r.exists(pending_flag(key))
        assert scheduled.get_job_ids() == []
    finally:
        bus.unsubscribe(handler)


def test_a_job_that_keeps_failing_lands_in_the_failed_registry(app, factory):
    call = factory.call()
    r = get_redis(app)
    [job_id] = enqueue(app, [Deferred("tests.workers.jobs_for_tests.always_fails", (call.id,),
                                      key=f"fails-{call.id}")])
    queue = Queue("default", connection=r)
    job = Job.fetch(job_id, connection=r)
    while job.retries_left:  # each failure schedules a retry with backoff; run them now instead of waiting
        run_queued_jobs(app)
        job.refresh()
        if job.get_status() == JobStatus.SCHEDULED:
            queue.scheduled_job_registry.remove(job)
            queue.enqueue_job(job)
    run_queued_jobs(app)
    assert job_id in FailedJobRegistry(queue=queue).get_job_ids()
    assert "this job cannot succeed" in job.latest_result().exc_string
    factory.user(username="root", role="admin")
    admin = app.test_client()
    admin.post("/login", data={"username": "root", "password": "password123"})
    assert admin.get("/healthz").json["jobs"]["failed"]["default"] == 1


def test_webhook_answers_and_keeps_its_event_when_jobs_cannot_be_enqueued(app, client, session, caplog):
    from callcenter.redis_conn import connect

    app.extensions["callcenter.redis"] = connect("unix:///nonexistent/redis.sock")  # Redis is down
    sid = "CA" + "6" * 32
    response = post_signed(client, "/ivr/status", {"CallSid": sid, "From": "+14155550123", "To": "+18005550100",
                                                   "Direction": "inbound", "CallStatus": "ringing"})
    assert response.status_code == 204
    call = calls.get_call(session, sid)
    assert [e.kind for e in calls.call_events(session, call)] == ["status"]
    assert "could not enqueue derive-calls" in caplog.text


def _worker_env(app) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT), "DATABASE_URL": app.config["DATABASE_URL"],
            "REDIS_URL": app.config["REDIS_URL"], "CALLCENTER_INSTANCE": app.config["INSTANCE_PATH"],
            "SECRET_KEY": "test-secret", "TELEPHONY_PROVIDER": "sim"}


def _start(command: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    # Its own process group, so stopping it stops whatever it started (but RQ's work horse makes its own).
    with log.open("ab") as out:
        return subprocess.Popen(command, env=env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)


def _stop(process: subprocess.Popen, sig: int) -> None:
    """Stop a worker we started (and its group); one that does not stop in time is killed."""
    if process.poll() is None:
        os.killpg(process.pid, sig)
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)


def test_a_job_whose_worker_is_killed_runs_again_and_its_effect_happens_once(app, factory, session, tmp_path):
    call = factory.call()
    r = get_redis(app)
    queue = Queue("default", connection=r)
    [job_id] = enqueue(app, [Deferred("tests.workers.jobs_for_tests.record_effect_then_wait", (call.id,),
                                      key=f"effect-{call.id}", timeout=60)])
    log = tmp_path / "workers.log"
    env = _worker_env(app)

    # The product's worker (`callcenter worker`: RQ, its scheduler, the ticker) takes the job and is killed
    # while the job waits, after its effect was committed.
    first = _start([sys.executable, "-m", "callcenter", "worker"], env, log)
    try:
        wait_until(lambda: r.get(jobs_for_tests.RUNS) == b"1", timeout=60,
                   message=f"the first run to commit its effect (log: {log.read_text()[-2000:]})")
    finally:
        assert int(r.get(jobs_for_tests.PID) or 0) == first.pid  # jobs run in the worker itself: no work horse
        _stop(first, signal.SIGKILL)
    assert job_id in StartedJobRegistry(queue=queue).get_job_ids()  # RQ still believes it is running

    # The next worker's registry maintenance finds the execution past its heartbeat and gives the job back to
    # its retry policy; run that maintenance as it would happen once the heartbeat has expired.
    StartedJobRegistry(queue=queue).cleanup(timestamp=time.time() + 3600)
    job = Job.fetch(job_id, connection=r)
    assert job.get_status() in (JobStatus.SCHEDULED, JobStatus.QUEUED)

    # The dead worker's scheduler locks expire by their TTL; the next worker's maintenance then takes them.
    r.delete(*r.keys("rq:scheduler-lock:*"))
    r.set(jobs_for_tests.RELEASE, "1")
    second = _start([sys.executable, "-m", "callcenter", "worker"], env, log)
    try:
        wait_until(lambda: job.get_status(refresh=True) == JobStatus.FINISHED, timeout=60,
                   message=f"the job to run again (log: {log.read_text()[-2000:]})")
    finally:
        _stop(second, signal.SIGTERM)

    assert r.get(jobs_for_tests.RUNS) == b"2"
    effects = session.scalar(select(func.count()).select_from(CallEvent).where(
        CallEvent.dedupe_key == jobs_for_tests.effect_key(call.id)))
    assert effects == 1
    session.expire_all()
    assert session.get(Call, call.id) is not None
