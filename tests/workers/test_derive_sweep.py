"""Deriving a call again when its derivation was lost: a job that never reached a worker, or a derivation
committed asynchronously that a PostgreSQL crash took back. The ticker enqueues the sweep once a minute.

And how long a derivation run keeps its calls locked from the webhooks that update them."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
import sqlalchemy as sa
from rq import Queue
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from callcenter import create_app
from callcenter.extensions import db
from callcenter.models import Call, CallEvent
from callcenter.models.base import utcnow
from callcenter.redis_conn import get_redis
from callcenter.services import calls
from workers import calls as call_jobs
from workers import ticker


@pytest.fixture
def app_config(app_config):
    # Jobs go to Redis and no worker runs them unless a test does: a derivation can be lost.
    return {**app_config, "JOBS_INLINE": False}


def _call_that_ended(session, call_sid: str) -> Call:
    call = calls.open_call(session, call_sid=call_sid, direction="inbound", from_number="+14155550100",
                           to_number="+18005550100", status="ringing")
    calls.apply_status_callback(session, {"CallSid": call_sid, "CallStatus": "completed", "CallDuration": "42"},
                                utcnow())
    return call


def _as_if_minutes_ago(session, call: Call, *, events: int, derived: int | None) -> None:
    """Move the call's events and its last derivation (None: never derived) back in time (the sweep looks at
    settled events)."""
    now = utcnow()
    session.execute(sa.update(CallEvent).where(CallEvent.call_id == call.id)
                    .values(recorded_at=now - timedelta(minutes=events), occurred_at=now - timedelta(minutes=events)))
    session.execute(sa.update(Call).where(Call.id == call.id)
                    .values(derived_at=None if derived is None else now - timedelta(minutes=derived)))
    session.commit()


def _status(session, call: Call) -> str:
    session.expire_all()
    return session.get(Call, call.id).status


def test_a_call_whose_derivation_was_lost_is_derived_again_by_the_sweep(app, session):
    lost = _call_that_ended(session, "CAlost")
    get_redis(app).flushall()  # the derivation job is lost with Redis's data
    _as_if_minutes_ago(session, lost, events=2, derived=None)
    assert _status(session, lost) == "queued"  # nothing derived the hang-up

    call_jobs.derive_lagging_calls()

    assert _status(session, lost) == "completed"
    assert calls.lagging_call_ids(session) == []  # derived: the next sweep leaves it alone


def test_the_sweep_finds_a_late_callback_whose_event_happened_long_before_it_was_recorded(app, session):
    late = _call_that_ended(session, "CAlate")
    get_redis(app).flushall()  # its derivation job is lost
    # The hang-up reached us two minutes ago, replayed by the carrier with its own time, two hours before.
    now = utcnow()
    session.execute(sa.update(CallEvent).where(CallEvent.call_id == late.id)
                    .values(recorded_at=now - timedelta(minutes=2), occurred_at=now - timedelta(hours=2)))
    session.execute(sa.update(Call).where(Call.id == late.id).values(derived_at=now - timedelta(minutes=3)))
    session.commit()

    assert calls.lagging_call_ids(session) == [late.id]
    call_jobs.derive_lagging_calls()

    assert _status(session, late) == "completed"
    assert calls.lagging_call_ids(session) == []


@pytest.mark.parametrize("database_url", ["sqlite", "postgresql"], indirect=True)
def test_the_sweep_finds_an_offer_whose_derivation_was_lost(database_url, app, session, factory):
    """An offer names the agent on the record in the statement that logs it: the record has changed since the
    event was recorded, yet the event's derivation may have been lost."""
    offered = _call_that_ended(session, "CAoffered")
    call_jobs.derive_calls(offered.id)
    _as_if_minutes_ago(session, offered, events=5, derived=4)
    assert calls.record_offer(session, "CAoffered", factory.user().id, commit=True)
    get_redis(app).flushall()  # the offer's derivation job is lost
    # Two minutes have passed since the offer: the usual job would have run.
    session.execute(sa.update(CallEvent).where(CallEvent.call_id == offered.id, CallEvent.kind == "offered")
                    .values(recorded_at=utcnow() - timedelta(minutes=2)))
    session.commit()

    assert calls.lagging_call_ids(session) == [offered.id]
    call_jobs.derive_lagging_calls()

    session.expire_all()
    assert session.get(Call, offered.id).offered_at is not None
    assert calls.lagging_call_ids(session) == []


def test_the_sweep_leaves_calls_whose_derivation_ran_or_may_still_run(app, session):
    derived = _call_that_ended(session, "CAderived")
    call_jobs.derive_calls(derived.id)  # what the worker does
    _as_if_minutes_ago(session, derived, events=2, derived=2)
    recent = _call_that_ended(session, "CArecent")  # its job is queued; the sweep gives it time

    assert calls.lagging_call_ids(session) == []
    assert calls.lagging_call_ids(session, now=utcnow() + timedelta(minutes=1)) == [recent.id]


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_the_derivation_commits_without_waiting_for_the_disk_on_postgresql(database_url, app_config):
    """Its commit held the derived calls' rows locked while a stalled disk flushed, and webhooks updating those
    calls waited behind it. (SQLite's commits never wait for the disk.)"""
    app_config["DATABASE_URL"] = database_url + "?options=-c%20synchronous_commit%3Don"  # as a production server
    app = create_app(app_config)
    committing: list[str] = []

    def seen_at_commit(session: Session) -> None:
        committing.append(session.connection().exec_driver_sql(
            "SELECT current_setting('synchronous_commit')").scalar_one())

    with app.app_context():
        call = _call_that_ended(db.session, "CAasync")
        sa.event.listen(Session, "before_commit", seen_at_commit)
        try:
            call_jobs.derive_calls(call.id)
        finally:
            sa.event.remove(Session, "before_commit", seen_at_commit)
        assert _status(db.session, call) == "completed"
        db.session.remove()
    db.engine.dispose()

    assert committing == ["off"]


def test_the_ticker_enqueues_the_sweep_once_a_minute(app):
    queue = Queue("maintenance", connection=get_redis(app))

    def sweeps() -> int:
        return sum(queue.fetch_job(job_id).func_name == ticker.DERIVE_SWEEP_JOB for job_id in queue.job_ids)

    now = time.time()
    ticker.tick(app, now)
    ticker.tick(app, now + 1)
    first = sweeps()
    call_jobs.derive_lagging_calls()  # the queued run starts: the next one may be enqueued
    ticker.tick(app, now + ticker.DERIVE_SWEEP_INTERVAL_SECONDS + 1)

    assert (first, sweeps()) == (1, 2)


# Long enough for an unlocked row on a busy machine, far shorter than a test's patience.
LOCK_WAIT_MS = 2000


def _offer_to(call_id: int, agent_id: int) -> str:
    """What the pop's offer does to a call's row, from a connection of its own: "updated", or "waited" when the
    row stayed locked past LOCK_WAIT_MS."""
    with db.engine.connect() as connection:
        connection.exec_driver_sql(f"SET LOCAL lock_timeout = '{LOCK_WAIT_MS}ms'")
        try:
            connection.execute(sa.update(Call).where(Call.id == call_id).values(agent_id=agent_id))
        except OperationalError:
            return "waited"
        finally:
            connection.rollback()
    return "updated"


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_a_call_already_derived_is_not_locked_while_the_run_derives_the_others(database_url, app, session, factory,
                                                                               monkeypatch):
    """A derivation locks its calls before reading their events, until it commits. On PostgreSQL (row locks) a
    run commits each call on its own: a webhook updating a call whose derivation is done (the pop's offer, the
    agent's answer) does not wait for the rest of the run."""
    agent = factory.user(username="ann")
    first, _, last = (_call_that_ended(session, f"CAlock{n}").id for n in range(3))
    derive = calls.derive
    offers: list[str] = []

    def derive_and_offer_the_first_while_deriving_the_last(events):
        if any(event.data.get("CallSid") == "CAlock2" for event in events):
            offers.append(_offer_to(first, agent.id))
        return derive(events)

    monkeypatch.setattr(calls, "derive", derive_and_offer_the_first_while_deriving_the_last)
    call_jobs.derive_calls()  # as RQ runs it: the three calls their commits gathered

    assert offers == ["updated"]
    session.expire_all()
    assert [session.get(Call, call_id).status for call_id in (first, last)] == ["completed", "completed"]
