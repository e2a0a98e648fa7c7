"""The agent's answer: the call is theirs, written in one round trip on PostgreSQL while their softphone waits
for its TwiML; bringing the customer into the conference is a second step the edge runs after that answer."""

from __future__ import annotations

import pytest
from sqlalchemy import event

from callcenter.models import Call, Queue
from callcenter.services import agent_legs, agent_state, calls, routing
from callcenter.services.interactions import conference_name

T0 = 1_800_000_000.0
SID = "CA" + "a" * 32
LEG = "CA" + "b" * 32


@pytest.fixture
def app_config(app_config):
    # Jobs wait in Redis, as they do for the worker: what the test counts is the webhook's own statements.
    return {**app_config, "JOBS_INLINE": False}


def _offered(session, factory, r) -> tuple[Call, int]:
    queue = Queue(name="Support", reservation_timeout_seconds=15, wrap_up_seconds=30)
    session.add(queue)
    agent = factory.user()
    agent_state.login(session, r, agent.id, now=T0 - 100)
    call = calls.open_call(session, call_sid=SID, direction="inbound", from_number="+14155550100",
                           to_number="+18005550100")
    session.commit()
    [offer] = routing.enqueue_call(session, r, call_sid=SID, queue_id=queue.id, from_number="+14155550100",
                                   now=T0).offers
    assert offer.agent_id == agent.id
    return call, agent.id


def test_an_answer_names_the_agent_and_logs_it_in_one_statement_on_postgresql(session, factory, acd_redis):
    """Reading the record, inserting the event and updating the record were three round trips; PostgreSQL now
    takes one statement that carries the COMMIT (SQLite, with no data-modifying CTE, two, with no network)."""
    call, agent_id = _offered(session, factory, acd_redis)
    bind, statements = session.get_bind(), []

    def record(_conn, _cursor, statement, *_args) -> None:
        statements.append(statement)

    event.listen(bind, "before_cursor_execute", record)
    try:
        link = agent_legs.answer(session, acd_redis, agent_id=agent_id, entry_id=SID, agent_leg_sid=LEG)
    finally:
        event.remove(bind, "before_cursor_execute", record)

    assert len(statements) == (1 if bind.dialect.name == "postgresql" else 2)
    assert (link["conference_name"], link["caller_sid"], link["agent_sid"]) == (conference_name(SID), SID, LEG)
    assert agent_state.get_presence(acd_redis, agent_id).state == agent_state.ON_CALL
    session.expire_all()
    assert session.get(Call, call.id).agent_id == agent_id
    assert [e.data for e in calls.call_events(session, call) if e.kind == "agent_answered"] == [
        {"agent_id": agent_id, "agent_sid": LEG}]


def test_a_repeated_answer_event_is_logged_once(session, factory, acd_redis):
    call, agent_id = _offered(session, factory, acd_redis)
    key = f"agent_answered:{SID}"

    assert calls.record_answer(session, SID, agent_id, LEG, dedupe_key=key, commit=True)
    assert calls.record_answer(session, SID, agent_id, LEG, dedupe_key=key, commit=True)  # a retried webhook
    assert not calls.record_answer(session, "CA" + "9" * 32, agent_id, LEG, dedupe_key="other", commit=True)

    session.expire_all()
    assert [e.kind for e in calls.call_events(session, call)].count("agent_answered") == 1
