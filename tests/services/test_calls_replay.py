"""Status callbacks as the carrier really delivers them: shuffled, repeated, and concurrent."""

from __future__ import annotations

import random
import threading
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

from sqlalchemy import func, select

from callcenter.extensions import db
from callcenter.models import Call, CallEvent
from callcenter.services import calls

CALLS = 2_000
CALLBACKS = 10_000
BATCH = 500
BASE_TIME = datetime(2025, 3, 4, 9, 0, tzinfo=UTC)


def _callbacks_for(index: int) -> list[dict[str, str]]:
    """The four progress callbacks of one outbound call, with Twilio's field names and RFC 2822 timestamps."""
    sid = f"CA{index:032x}"
    start = BASE_TIME + timedelta(seconds=index * 7)
    talk = 10 + index % 300
    steps = [("initiated", 0), ("ringing", 1), ("in-progress", 6), ("completed", 6 + talk)]
    result = []
    for sequence, (status, offset) in enumerate(steps):
        params = {
            "AccountSid": "AC" + "a" * 32,
            "CallSid": sid,
            "CallStatus": status,
            "Direction": "outbound-api",
            "From": "+18005550100",
            "To": f"+1415555{index % 10_000:04d}",
            "SequenceNumber": str(sequence),
            "Timestamp": format_datetime(start + timedelta(seconds=offset)),
            "ApiVersion": "2010-04-01",
        }
        if status == "completed":
            params["CallDuration"] = str(talk)
        result.append(params)
    return result


def test_replay_of_shuffled_duplicated_callbacks_gives_one_correct_record_per_call(session):
    """10,000 callbacks for 2,000 calls, shuffled with duplicates, end as 2,000 completed records."""
    rng = random.Random(20250304)
    callbacks = [params for index in range(CALLS) for params in _callbacks_for(index)]
    duplicates = [dict(rng.choice(callbacks)) for _ in range(CALLBACKS - len(callbacks))]
    feed = callbacks + duplicates
    rng.shuffle(feed)
    assert len(feed) == CALLBACKS

    received = BASE_TIME + timedelta(days=1)
    for number, params in enumerate(feed, start=1):
        # Each callback goes through the service; commits are batched as a bulk replay would.
        calls.apply_status_callback(session, params, received_at=received, commit=number % BATCH == 0)
    session.commit()

    assert session.scalar(select(func.count()).select_from(Call)) == CALLS
    assert session.scalar(select(func.count()).select_from(CallEvent)) == len(callbacks)
    records = session.scalars(select(Call).order_by(Call.call_sid)).all()
    for index, call in enumerate(records):
        assert call.call_sid == f"CA{index:032x}"
        assert call.status == "completed"
        assert call.direction == "outbound-api"
        assert call.duration_seconds == 10 + index % 300
        start = BASE_TIME + timedelta(seconds=index * 7)
        assert call.started_at == start
        assert call.ringing_at == start + timedelta(seconds=1)
        assert call.answered_at == start + timedelta(seconds=6)
        assert call.ended_at == start + timedelta(seconds=6 + call.duration_seconds)
        assert call.ringing_at <= call.answered_at <= call.ended_at


def _race(app, work, threads: int = 2) -> list[BaseException]:
    """Run `work(session)` in several threads released at the same instant, each with its own session."""
    barrier = threading.Barrier(threads)
    errors: list[BaseException] = []

    def run() -> None:
        with app.app_context(), db.new_session() as own:
            try:
                barrier.wait(timeout=10)
                work(own)
            except BaseException as exc:  # reported to the test below
                errors.append(exc)

    workers = [threading.Thread(target=run) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=30)
    return errors


def test_the_same_callback_from_two_threads_at_once_is_recorded_once(app, session):
    """Precondition: no call. Action: one callback delivered twice concurrently (20 rounds). Post: one event."""
    for round_ in range(20):
        params = _callbacks_for(50_000 + round_)[1]
        errors = _race(app, lambda own, p=params: calls.apply_status_callback(own, p, received_at=BASE_TIME))
        assert errors == []
        sid = params["CallSid"]
        assert session.scalar(select(func.count()).select_from(Call).where(Call.call_sid == sid)) == 1
        assert session.scalar(select(func.count()).select_from(CallEvent).where(CallEvent.call_sid == sid)) == 1


def test_different_callbacks_of_one_call_applied_concurrently_are_all_derived(app, session):
    """Two processes deriving the same call at once must not overwrite each other's view (no lost update)."""
    for round_ in range(10):
        ringing, _, completed = _callbacks_for(60_000 + round_)[1:]
        feed = iter([ringing, completed])
        lock = threading.Lock()

        def deliver(own, feed=feed, lock=lock):
            with lock:
                params = next(feed)
            calls.apply_status_callback(own, params, received_at=BASE_TIME)

        assert _race(app, deliver) == []
        session.expire_all()
        call = calls.get_call(session, ringing["CallSid"])
        assert call.status == "completed"
        assert call.ringing_at is not None and call.ended_at is not None
        assert call.duration_seconds == int(completed["CallDuration"])
