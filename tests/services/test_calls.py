"""Call detail records: idempotent opening, status callbacks in any order, phase events."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest
from sqlalchemy import event, func, select
from sqlalchemy.exc import IntegrityError

from callcenter.models import Call, CallEvent
from callcenter.services import calls, events
from callcenter.services.errors import ValidationFailed

T0 = datetime(2025, 6, 2, 14, 0, tzinfo=UTC)
SID = "CA" + "1" * 32


def _status(status: str, seconds: int, sequence: int, sid: str = SID, **extra: str) -> dict[str, str]:
    return {
        "CallSid": sid,
        "CallStatus": status,
        "From": "+14155550123",
        "To": "+18005550100",
        "Direction": "inbound",
        "SequenceNumber": str(sequence),
        "Timestamp": format_datetime(T0 + timedelta(seconds=seconds)),
        **extra,
    }


@pytest.fixture
def published():
    received: list[events.DomainEvent] = []
    events.bus.subscribe(received.append)
    yield received
    events.bus.unsubscribe(received.append)


def _count(session, model) -> int:
    return session.scalar(select(func.count()).select_from(model))


def test_open_call_is_idempotent_on_call_sid(session, published):
    first = calls.open_call(session, call_sid=SID, direction="inbound", from_number="+1 (415) 555-0123",
                            to_number="+18005550100", occurred_at=T0, status="ringing")
    again = calls.open_call(session, call_sid=SID, direction="inbound", from_number="+14155550123",
                            to_number="+18005550100", occurred_at=T0 + timedelta(seconds=3))
    assert first.id == again.id
    assert _count(session, Call) == 1
    assert _count(session, CallEvent) == 1
    assert again.from_number == "+14155550123"
    assert again.status == "ringing"
    assert again.started_at == T0 and again.ringing_at == T0
    assert [e.payload["status"] for e in published if e.name == "call.updated"] == ["ringing"]


def test_a_new_call_is_written_and_read_back_in_one_statement(session):
    """The carrier's first webhook of a call waits for one statement on the calls table, not a read, an insert and
    a read again: on PostgreSQL each is a round trip."""
    engine, statements = session.get_bind(), []

    def record(_conn, _cursor, statement, *_args) -> None:
        statements.append(" ".join(statement.split()[:3]))

    def stop(_conn) -> None:  # what runs after the commit (the derivation job, inline here) is not the webhook's
        event.remove(engine, "before_cursor_execute", record)

    event.listen(engine, "before_cursor_execute", record)
    event.listen(engine, "commit", stop, once=True)
    call = calls.open_call(session, call_sid=SID, direction="inbound", from_number="+14155550123",
                           to_number="+18005550100", occurred_at=T0, status="ringing")
    assert statements == ["INSERT INTO calls", "INSERT INTO call_events"]
    assert call.id == session.scalar(select(Call.id).where(Call.call_sid == SID))
    assert (call.direction, call.from_number, call.to_number) == ("inbound", "+14155550123", "+18005550100")


def test_a_retried_first_webhook_finds_the_call_its_first_try_recorded(session):
    first_id = calls.open_call(session, call_sid=SID, direction="inbound", from_number="+14155550123",
                               to_number="+18005550100", occurred_at=T0, status="ringing").id
    session.expunge_all()  # a retry is another request: nothing of the first try in its session
    again = calls.open_call(session, call_sid=SID, direction="inbound", from_number="+14155550123",
                            to_number="+18005550100", occurred_at=T0, status="ringing")
    assert again.id == first_id
    assert (_count(session, Call), _count(session, CallEvent)) == (1, 1)


def test_callbacks_in_order_fill_every_phase_and_the_duration(session, published):
    for sequence, (status, seconds) in enumerate([("initiated", 0), ("ringing", 2), ("in-progress", 9),
                                                  ("completed", 69)]):
        extra = {"CallDuration": "60"} if status == "completed" else {}
        call = calls.apply_status_callback(session, _status(status, seconds, sequence, **extra), received_at=T0)
    assert (call.status, call.duration_seconds) == ("completed", 60)
    assert call.started_at == T0
    assert call.ringing_at == T0 + timedelta(seconds=2)
    assert call.answered_at == T0 + timedelta(seconds=9)
    assert call.ended_at == T0 + timedelta(seconds=69)
    assert [e.payload["status"] for e in published] == ["initiated", "ringing", "in-progress", "completed"]


def test_late_ringing_after_completed_does_not_move_the_call_back(session):
    calls.apply_status_callback(session, _status("completed", 30, 3, CallDuration="20"), received_at=T0)
    call = calls.apply_status_callback(session, _status("ringing", 1, 1), received_at=T0)
    assert call.status == "completed"
    assert call.ringing_at == T0 + timedelta(seconds=1)
    assert call.ended_at == T0 + timedelta(seconds=30)


def test_duplicate_callback_is_a_no_op(session, published):
    calls.apply_status_callback(session, _status("ringing", 1, 1), received_at=T0)
    calls.apply_status_callback(session, _status("ringing", 1, 1), received_at=T0 + timedelta(minutes=5))
    assert _count(session, CallEvent) == 1
    assert len(published) == 1


def test_every_order_of_the_same_callbacks_gives_the_same_record(session):
    feed = [_status("initiated", 0, 0), _status("ringing", 1, 1), _status("in-progress", 4, 2),
            _status("completed", 14, 3, CallDuration="10")]
    results = set()
    for number, order in enumerate(itertools.permutations(feed)):
        sid = f"CA{number:032x}"
        for params in order:
            call = calls.apply_status_callback(session, {**params, "CallSid": sid}, received_at=T0)
        results.add((call.status, call.started_at, call.ringing_at, call.answered_at, call.ended_at,
                     call.duration_seconds))
    assert len(results) == 1
    assert results.pop()[0] == "completed"


def test_unknown_call_sid_creates_the_record_from_the_callback(session):
    parent = calls.open_call(session, call_sid="CA" + "2" * 32, direction="inbound", from_number="+14155550123",
                             to_number="+18005550100")
    call = calls.apply_status_callback(
        session,
        _status("ringing", 0, 0, sid="CA" + "3" * 32, Direction="outbound-dial", From="+18005550100",
                To="client:alice", ParentCallSid=parent.call_sid),
        received_at=T0,
    )
    assert (call.direction, call.from_number, call.to_number) == ("outbound-dial", "+18005550100", "client:alice")
    assert call.parent_id == parent.id


def test_timestamp_is_used_when_present_else_the_receive_time(session):
    params = _status("ringing", 5, 1)
    with_time = calls.apply_status_callback(session, params, received_at=T0 + timedelta(hours=1))
    assert with_time.ringing_at == T0 + timedelta(seconds=5)
    bare = {k: v for k, v in _status("ringing", 0, 1, sid="CA" + "4" * 32).items() if k != "Timestamp"}
    received = T0 + timedelta(hours=2)
    assert calls.apply_status_callback(session, bare, received_at=received).ringing_at == received


def test_malformed_callbacks_are_refused_with_the_field_at_fault(session):
    with pytest.raises(ValidationFailed) as missing:
        calls.apply_status_callback(session, {"CallStatus": "ringing"}, received_at=T0)
    assert missing.value.field == "CallSid"
    with pytest.raises(ValidationFailed) as unknown:
        calls.apply_status_callback(session, _status("exploded", 0, 0), received_at=T0)
    assert unknown.value.field == "CallStatus"
    assert _count(session, Call) == 0


def test_phase_events_set_queue_agent_hold_and_wrap_up_times(session, published):
    call = calls.open_call(session, call_sid=SID, direction="inbound", from_number="+14155550123",
                           to_number="+18005550100", occurred_at=T0)
    published.clear()
    steps = [("ivr", {"menu": "main", "digits": "2"}, 3), ("enqueued", {"queue": "support"}, 5),
             ("offered", {"agent_id": 7}, 20), ("agent_answered", {}, 25), ("hold", {}, 40), ("unhold", {}, 55),
             ("wrap_up_started", {}, 90), ("wrap_up_ended", {}, 120)]
    for kind, data, seconds in steps:
        recorded = calls.record_event(session, call, kind, data, dedupe_key=f"{kind}:{SID}",
                                      occurred_at=T0 + timedelta(seconds=seconds))
        assert recorded is not None
    assert calls.record_event(session, call, "offered", {}, dedupe_key=f"offered:{SID}") is None
    assert published == []  # nothing is announced before the caller's commit
    session.commit()
    assert [e.payload["call_sid"] for e in published] == [SID]
    assert call.ivr_path == [{"menu": "main", "digits": "2"}]
    assert call.enqueued_at == T0 + timedelta(seconds=5)
    assert call.offered_at == T0 + timedelta(seconds=20)
    assert call.agent_answered_at == T0 + timedelta(seconds=25)
    assert call.hold_seconds == 15
    assert (call.wrap_up_started_at, call.wrap_up_ended_at) == (T0 + timedelta(seconds=90),
                                                              T0 + timedelta(seconds=120))
    assert [e.kind for e in calls.call_events(session, call)][:3] == ["opened", "ivr", "enqueued"]


def test_events_appended_together_keep_their_data_and_skip_repeats(session, published):
    call = calls.open_call(session, call_sid=SID, direction="inbound", from_number="+14155550123",
                           to_number="+18005550100", occurred_at=T0)
    published.clear()
    ivr = calls.NewEvent("ivr", {"node": "main", "input": "2"}, dedupe_key=f"ivr:{SID}",
                         occurred_at=T0 + timedelta(seconds=3))
    joined = calls.NewEvent("enqueued", {"queue_id": 4}, dedupe_key=f"enqueued:{SID}",
                            occurred_at=T0 + timedelta(seconds=4))

    assert calls.record_events(session, call, [ivr, joined]) == 2
    assert calls.record_events(session, call, [ivr, joined]) == 0  # a retried webhook adds nothing
    session.commit()

    assert [(e.kind, e.data) for e in calls.call_events(session, call)] == [
        ("opened", calls.call_events(session, call)[0].data), ("ivr", {"node": "main", "input": "2"}),
        ("enqueued", {"queue_id": 4})]
    assert call.ivr_path == [{"node": "main", "input": "2"}]  # derived once the append committed
    assert call.enqueued_at == T0 + timedelta(seconds=4)
    with pytest.raises(ValidationFailed):
        calls.record_events(session, call, [calls.NewEvent("", {})])


def _menu_events(sid: str) -> list[calls.NewEvent]:
    return [calls.NewEvent("ivr", {"node": "main", "input": "1"}, dedupe_key=f"ivr:{sid}",
                           occurred_at=T0 + timedelta(seconds=3)),
            calls.NewEvent("enqueued", {"queue_id": 4}, dedupe_key=f"enqueued:{sid}",
                           occurred_at=T0 + timedelta(seconds=4))]


def test_events_that_are_the_whole_transaction_are_committed_and_derived_as_any(session):
    """The menu's case: the session has begun nothing, so the events go on a connection of their own (without
    the session's unit of work), and the session's commit still hands on their derivation."""
    call = calls.open_call(session, call_sid=SID, direction="inbound", from_number="+14155550123",
                           to_number="+18005550100", occurred_at=T0)
    so_far = calls.CallSoFar(call.id, SID, "+14155550123", None, [])  # what the menu knows from the call's walk
    session.commit()
    assert not session().in_transaction()

    assert calls.record_events(session, so_far, _menu_events(SID), commit=True) == 2
    assert calls.record_events(session, so_far, _menu_events(SID), commit=True) == 0  # a retried webhook

    session.expire_all()
    assert [e.kind for e in calls.call_events(session, call)] == ["opened", "ivr", "enqueued"]
    assert call.ivr_path == [{"node": "main", "input": "1"}]  # the derivation was handed on and ran
    assert call.enqueued_at == T0 + timedelta(seconds=4)


def test_events_committed_after_a_pending_change_commit_with_it_or_not_at_all(session):
    """A session with work of its own keeps the events in its transaction: they commit together, and a change
    that cannot be written takes the events back with it."""
    call = calls.open_call(session, call_sid=SID, direction="inbound", from_number="+14155550123",
                           to_number="+18005550100", occurred_at=T0)
    session.commit()
    so_far = calls.CallSoFar(call.id, SID, "+14155550123", None, [])

    call.notes = "asked for Ana"
    assert calls.record_events(session, so_far, _menu_events(SID)[:1], commit=True) == 1
    session.expire_all()
    assert (call.notes, [e.kind for e in calls.call_events(session, call)]) == ("asked for Ana", ["opened", "ivr"])

    session.add(Call(call_sid=SID, direction="inbound"))  # the same CallSid again: cannot be written
    with pytest.raises(IntegrityError):  # the CallSid is unique
        calls.record_events(session, so_far, _menu_events(SID)[1:], commit=True)
    session.rollback()
    assert [e.kind for e in calls.call_events(session, call)] == ["opened", "ivr"]


def test_an_offer_names_the_agent_on_the_call_and_is_logged_once(session, factory):
    agent = factory.user()
    call = calls.open_call(session, call_sid=SID, direction="inbound", from_number="+14155550123",
                           to_number="+18005550100", occurred_at=T0)

    assert calls.record_offer(session, SID, agent.id)
    assert calls.record_offer(session, SID, agent.id)  # the offer built again: the same phase, not a second one
    assert not calls.record_offer(session, "CA" + "9" * 32, agent.id)
    session.commit()

    session.expire_all()
    assert call.agent_id == agent.id
    assert [e.data for e in calls.call_events(session, call) if e.kind == "offered"] == [{"agent_id": agent.id}]


def test_an_offer_is_one_round_trip_on_postgresql(session, factory):
    """The pop waits for the offer to be recorded: PostgreSQL updates the call and logs the event in one statement
    (SQLite, which has no data-modifying CTE, in two, without a network between them)."""
    agent = factory.user()
    calls.open_call(session, call_sid=SID, direction="inbound", from_number="+14155550123", to_number="+18005550100",
                    occurred_at=T0)
    session.flush()
    statements: list[str] = []
    bind = session.connection().engine

    def record(_conn, _cursor, statement, *_args) -> None:
        statements.append(statement)

    event.listen(bind, "before_cursor_execute", record)
    try:
        assert calls.record_offer(session, SID, agent.id)
    finally:
        event.remove(bind, "before_cursor_execute", record)
    assert len(statements) == (1 if bind.dialect.name == "postgresql" else 2)


def test_rolled_back_work_publishes_nothing(session, published):
    call = calls.open_call(session, call_sid=SID, direction="inbound", from_number="+14155550123",
                           to_number="+18005550100")
    published.clear()
    calls.record_event(session, call, "enqueued", {})
    session.rollback()
    assert published == []
    assert _count(session, CallEvent) == 1


def _enqueued(sid: str, queue_id: int, contact_id: int | None, seconds: int = 4) -> calls.NewEvent:
    return calls.NewEvent("enqueued", {"queue_id": queue_id, "contact_id": contact_id}, dedupe_key=f"enqueued:{sid}",
                          occurred_at=T0 + timedelta(seconds=seconds))


def _opened(session, sid: str) -> Call:
    return calls.open_call(session, call_sid=sid, direction="inbound", from_number="+14155550123",
                           to_number="+18005550100", occurred_at=T0)


def test_the_enqueued_event_files_the_queue_and_contact_but_never_over_an_agents_link(session, factory):
    queue = factory.demo_line()["Sales"]
    matched, picked = factory.contact(first_name="Matched"), factory.contact(first_name="Picked")
    plain, linked = _opened(session, SID), _opened(session, "CA" + "2" * 32)
    linked.contact_id = picked.id  # an agent linked the call before its derivation ran
    session.commit()

    calls.record_events(session, plain, [_enqueued(plain.call_sid, queue.id, matched.id)])
    calls.record_events(session, linked, [_enqueued(linked.call_sid, queue.id, matched.id)])
    session.commit()  # derived (inline in the suite)

    session.expire_all()
    assert (plain.queue_id, plain.contact_id) == (queue.id, matched.id)
    assert (linked.queue_id, linked.contact_id) == (queue.id, picked.id)


def test_a_contact_gone_before_derivation_is_not_filed_and_the_batch_still_derives(session, factory):
    queue = factory.demo_line()["Sales"]
    gone, kept = factory.contact(first_name="Merged away"), factory.contact(first_name="Kept")
    first, second = _opened(session, SID), _opened(session, "CA" + "2" * 32)
    calls.record_events(session, first, [_enqueued(first.call_sid, queue.id, gone.id)])
    calls.record_events(session, second, [_enqueued(second.call_sid, queue.id, kept.id)])
    session.flush()
    session.delete(gone)
    session.flush()  # the calls are not derived yet: their events commit with the delete

    derived = calls.derive_calls(session, [first.id, second.id])

    assert [(c.queue_id, c.contact_id) for c in derived] == [(queue.id, None), (queue.id, kept.id)]


def test_the_language_chosen_in_the_menu_is_read_from_the_choices_before_derivation(session):
    call = _opened(session, SID)
    chose = calls.NewEvent("ivr", {"node": "lang", "input": "2", "language": "zh-CN"}, dedupe_key=f"ivr:{SID}:lang",
                           occurred_at=T0 + timedelta(seconds=3))
    calls.record_events(session, call, [chose])

    so_far = calls.call_so_far(session, SID)  # in the menu's own transaction, the record not derived yet
    assert (so_far.id, so_far.language, so_far.ivr_path) == (call.id, "zh_Hans", [chose.data])
    session.commit()
    session.expire_all()
    assert call.language == "zh_Hans"
    assert calls.call_so_far(session, "CA" + "9" * 32) is None
