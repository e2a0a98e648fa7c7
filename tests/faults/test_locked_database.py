"""The database is locked by another writer (a long transaction, a migration, a report) while callers arrive:
every voice webhook still answers well within the carrier's 15 s, the caller is held on the line and their step
is taken again once the lock goes, and a lock that outlasts a few retries ends in the step's safe fallback.

Before this guard a webhook waited for the lock as long as the driver would: 30 s on SQLite (then "technical
difficulties" and a hang-up), for ever on PostgreSQL; Twilio gives up after 15 s and drops the caller.
"""

from __future__ import annotations

import sqlite3
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import parse_qs, urlsplit

import pytest
import sqlalchemy as sa
from sqlalchemy import func, select

from callcenter.models import Recording
from callcenter.services import acd, calls
from callcenter.telephony.twiml import TECHNICAL_DIFFICULTIES
from ivr import guard
from tests.faults.conftest import NUMBER
from tests.support.jobs import run_queued_jobs
from tests.support.servers import wait_until

DANA = "+14155550100"
RECORDING_SID = "RE" + "4" * 32
CARRIER_BUDGET_SECONDS = 15.0
# What we promise: the budget a statement may wait (3 s) plus the rest of the webhook, far inside the carrier's.
ANSWER_WITHIN_SECONDS = guard.WEBHOOK_DB_WAIT_SECONDS + 2.0


@contextmanager
def write_lock(database_url: str, tables: tuple[str, ...] = ("calls",)) -> Iterator[None]:
    """Another connection holds the database's write lock: SQLite's (BEGIN IMMEDIATE), or on PostgreSQL an
    EXCLUSIVE lock on `tables` (reads go on, every write to them waits)."""
    if database_url.startswith("sqlite"):
        holder = sqlite3.connect(database_url.removeprefix("sqlite:///"), isolation_level=None, timeout=5)
        holder.execute("BEGIN IMMEDIATE")
        try:
            yield
        finally:
            holder.execute("ROLLBACK")
            holder.close()
        return
    engine = sa.create_engine(database_url)
    try:
        with engine.connect() as holder:
            holder.exec_driver_sql(f"LOCK TABLE {', '.join(tables)} IN EXCLUSIVE MODE")
            try:
                yield
            finally:
                holder.rollback()
    finally:
        engine.dispose()


def _answers(carrier, path: str) -> list:
    return [w for w in carrier.webhook_log if urlsplit(w.url).path == path]


def _redirect_of(record) -> str | None:
    root = ET.fromstring(record.body)
    redirect = root.find("Redirect")
    return None if redirect is None else redirect.text


def test_a_caller_arriving_while_the_database_is_locked_is_held_then_greeted(
        database_url, session, sim_carrier, line):
    with write_lock(database_url):
        caller = sim_carrier.dial(DANA, NUMBER)
        [held] = wait_until(lambda: _answers(sim_carrier, "/ivr/voice"), timeout=CARRIER_BUDGET_SECONDS,
                            message="the greeting webhook to answer while the database is locked")

    assert held.status == 200 and held.latency < ANSWER_WITHIN_SECONDS, (held.status, held.latency)
    retry_url = _redirect_of(held)
    assert retry_url is not None, held.body  # held on the line, not hung up
    assert parse_qs(urlsplit(retry_url).query)["busy_retry"] == ["1"]
    caller.wait_for_say("For sales, press 1")  # the step, taken again once the lock went
    assert TECHNICAL_DIFFICULTIES not in caller.transcript
    session.expire_all()
    record = calls.get_call(session, caller.sid)
    assert record is not None and record.from_number == DANA
    caller.hangup()


def test_a_menu_choice_made_while_the_database_is_locked_is_kept_and_routed(
        database_url, session, sim_carrier, redis_client, line):
    caller = sim_carrier.dial(DANA, NUMBER)
    caller.wait_for_say("For sales, press 1")
    with write_lock(database_url):
        caller.press("1", wait=False)
        [held] = wait_until(lambda: _answers(sim_carrier, "/ivr/menu"), timeout=CARRIER_BUDGET_SECONDS,
                            message="the menu webhook to answer while the database is locked")

    assert held.status == 200 and held.latency < ANSWER_WITHIN_SECONDS, (held.status, held.latency)
    query = parse_qs(urlsplit(_redirect_of(held) or "").query)
    assert query["Digits"] == ["1"] and query["busy_retry"] == ["1"]  # the key pressed travels with the retry
    retried = wait_until(lambda: _answers(sim_carrier, "/ivr/menu")[1:], message="the menu step taken again")[0]
    assert retried.status == 200 and _redirect_of(retried) == "http://localhost/ivr/wait"  # the wait loop
    assert acd.position(redis_client, caller.sid) == 1
    session.expire_all()
    assert calls.get_call(session, caller.sid).queue.name == "Sales"
    caller.hangup()


@pytest.fixture
def short_budget(monkeypatch):
    """A lock that outlasts every retry, without waiting 4 x 3 s for it."""
    monkeypatch.setattr(guard, "WEBHOOK_DB_WAIT_SECONDS", 0.3)


def test_a_lock_that_outlasts_the_retries_ends_in_the_safe_fallback(database_url, short_budget, sim_carrier, line):
    with write_lock(database_url):
        caller = sim_carrier.dial(DANA, NUMBER)
        caller.wait_for_say(TECHNICAL_DIFFICULTIES, timeout=CARRIER_BUDGET_SECONDS)
        caller.wait_ended()

    answers = _answers(sim_carrier, "/ivr/voice")
    assert [parse_qs(urlsplit(w.url).query).get("busy_retry") for w in answers] == \
        [None, ["1"], ["2"], ["3"]]
    assert all(w.status == 200 and w.latency < 0.3 + 2.0 for w in answers)
    assert [_redirect_of(w) is not None for w in answers] == [True, True, True, False]


@pytest.fixture
def jobs_on_a_queue(app_config):
    """Jobs go to RQ (run by the test with a burst worker) instead of running inline in the webhook."""
    app_config["JOBS_INLINE"] = False


def test_a_status_callback_that_meets_a_locked_database_is_applied_once_it_is_free(
        jobs_on_a_queue, app, database_url, session, sim_carrier, redis_client, line):
    caller = sim_carrier.dial(DANA, NUMBER)
    caller.wait_for_say("For sales, press 1")
    caller.press("1")
    wait_until(lambda: acd.position(redis_client, caller.sid) == 1, message="the caller waiting in Sales")

    with write_lock(database_url):
        caller.hangup()
        [ended] = wait_until(lambda: [w for w in _answers(sim_carrier, "/ivr/status")
                                      if w.params.get("CallStatus") == "completed"],
                             timeout=CARRIER_BUDGET_SECONDS, message="the completed callback to be answered")
        assert ended.status == 204 and ended.latency < ANSWER_WITHIN_SECONDS, (ended.status, ended.latency)

    session.expire_all()
    record = calls.get_call(session, caller.sid)
    assert "completed" not in [e.data.get("CallStatus") for e in calls.call_events(session, record)]
    assert acd.position(redis_client, caller.sid) == 1  # not applied yet: the carrier will not send it again

    run_queued_jobs(app)

    session.expire_all()
    record = calls.get_call(session, caller.sid)
    statuses = [e.data.get("CallStatus") for e in calls.call_events(session, record) if e.kind == "status"]
    assert statuses.count("completed") == 1
    assert record.status == "completed" and acd.position(redis_client, caller.sid) is None


def test_a_recording_callback_that_meets_a_locked_database_is_kept_once_it_is_free(
        jobs_on_a_queue, short_budget, app, database_url, session, sim_carrier, client, factory):
    call = factory.call()
    media = f"https://api.twilio.com/2010-04-01/Accounts/{sim_carrier.account_sid}/Recordings/{RECORDING_SID}"
    params = {"AccountSid": sim_carrier.account_sid, "CallSid": call.call_sid, "RecordingSid": RECORDING_SID,
              "RecordingStatus": "completed", "RecordingDuration": "42", "RecordingUrl": media}
    signature = sim_carrier.validator.compute_signature("http://localhost/ivr/recording/status", params)

    def deliver():
        return client.post("/ivr/recording/status", data=params, headers={"X-Twilio-Signature": signature})

    with write_lock(database_url, tables=("calls", "recordings")):
        started = time.monotonic()
        answered = deliver()
        assert answered.status_code == 204 and time.monotonic() - started < ANSWER_WITHIN_SECONDS

    session.expire_all()
    assert session.scalar(select(Recording)) is None  # not kept yet: the carrier will not send it again
    run_queued_jobs(app)

    session.expire_all()
    [kept] = session.scalars(select(Recording)).all()
    assert (kept.call_sid, kept.status, kept.duration_seconds, kept.media_url) == (call.call_sid, "completed", 42,
                                                                                   media)
    assert deliver().status_code == 204  # delivered again, now that the database is free: still one recording
    session.expire_all()
    assert session.scalar(select(func.count()).select_from(Recording)) == 1


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_a_slow_database_holds_the_caller_within_the_budget_then_greets(database_url, session, sim_carrier, line):
    """PostgreSQL answering slowly rather than locked (an overloaded server; here a new call row takes 10 s to
    insert): the statement is cut at the webhook's budget, the caller is held, and greeted once it is quick again.
    SQLite runs inside our own process: a slow statement there is our own CPU, and only its lock waits apply."""
    engine = sa.create_engine(database_url)
    with engine.begin() as connection:
        connection.exec_driver_sql("CREATE FUNCTION cc_test_slow() RETURNS trigger AS $$ BEGIN "
                                   "PERFORM pg_sleep(10); RETURN NEW; END $$ LANGUAGE plpgsql")
        connection.exec_driver_sql("CREATE TRIGGER cc_test_slow BEFORE INSERT ON calls "
                                   "FOR EACH ROW EXECUTE FUNCTION cc_test_slow()")
    try:
        caller = sim_carrier.dial(DANA, NUMBER)
        [held] = wait_until(lambda: _answers(sim_carrier, "/ivr/voice"), timeout=CARRIER_BUDGET_SECONDS,
                            message="the greeting webhook to answer while every insert takes 10 s")
        with engine.begin() as connection:
            connection.exec_driver_sql("DROP TRIGGER cc_test_slow ON calls")
    finally:
        engine.dispose()

    assert held.status == 200 and held.latency < ANSWER_WITHIN_SECONDS, (held.status, held.latency)
    assert parse_qs(urlsplit(_redirect_of(held) or "").query)["busy_retry"] == ["1"]  # held, not hung up
    caller.wait_for_say("For sales, press 1")
    assert TECHNICAL_DIFFICULTIES not in caller.transcript
    session.expire_all()
    assert calls.get_call(session, caller.sid).from_number == DANA
    caller.hangup()
