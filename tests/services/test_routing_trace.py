"""Persisting captured routing decisions: off the hot path, idempotent, and nothing lost while the database is down."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError

from callcenter.models import RoutingTrace
from callcenter.services import acd, routing_trace
from tests.services.test_acd import T0, Q, configure, make_agent


def _offer(call_sid: str, at: float, agent_id: int) -> dict:
    return {"kind": "offered", "call_sid": call_sid, "queue_id": None, "agent_id": agent_id, "at": at,
            "rule": "longest_idle", "required": {}, "candidates": [{"agent_id": agent_id, "idle_since": at - 30,
                                                                   "levels": {}, "eligible": True,
                                                                   "declined": False}]}


def _captured(r, record: dict) -> None:
    """A decision as the ACD's scripts append it."""
    r.rpush(acd.TRACE_LOG, json.dumps(record))


def _rows(session) -> int:
    return session.scalar(select(func.count()).select_from(RoutingTrace))


def test_a_database_error_keeps_the_decisions_in_redis_for_the_retry(session, acd_redis, factory, monkeypatch):
    agent = factory.user()
    for n in range(3):
        _captured(acd_redis, _offer(f"CA{n}", 1_800_000_000.0 + n, agent.id))

    def down():
        raise OperationalError("INSERT", {}, Exception("database is down"))

    monkeypatch.setattr(session, "commit", down)
    with pytest.raises(OperationalError):
        routing_trace.flush(session, acd_redis)
    monkeypatch.undo()

    kept = [json.loads(item)["call_sid"] for item in acd_redis.lrange(acd.TRACE_LOG, 0, -1)]
    assert kept == ["CA0", "CA1", "CA2"]  # back, in order
    assert _rows(session) == 0
    assert routing_trace.flush(session, acd_redis) == 3
    assert acd_redis.llen(acd.TRACE_LOG) == 0
    row = session.scalar(select(RoutingTrace).where(RoutingTrace.call_sid == "CA1"))
    assert row.agent_id == agent.id and row.details["rule"] == "longest_idle"


def test_a_decision_flushed_twice_is_stored_once(session, acd_redis, factory):
    agent = factory.user()
    record = _offer("CAtwice", 1_800_000_000.0, agent.id)
    _captured(acd_redis, record)
    assert routing_trace.flush(session, acd_redis) == 1
    _captured(acd_redis, record)  # a job killed after its commit, before its pop was final
    assert routing_trace.flush(session, acd_redis) == 0
    assert _rows(session) == 1


def _traced(r) -> list[dict]:
    return [json.loads(item) for item in r.lrange(acd.TRACE_LOG, 0, -1)]


def test_the_enqueue_script_traces_a_new_entry_once(acd_redis):
    configure(acd_redis)
    record = {"kind": "queued", "call_sid": "CAq", "at": T0}

    assert acd.enqueue(acd_redis, entry_id="CAq", queue_id=Q, priority=0, enqueued_at=T0, trace=record)
    assert not acd.enqueue(acd_redis, entry_id="CAq", queue_id=Q, priority=0, enqueued_at=T0 + 1, trace=record)

    assert _traced(acd_redis) == [record]  # the retried webhook's decision is not traced twice


def test_the_reserve_script_traces_its_choice_with_the_candidates(acd_redis):
    configure(acd_redis, skills={3: 2}, reservation_timeout_seconds=15)
    make_agent(acd_redis, 1, T0 - 300, {3: 1})  # idle longest, below the level: not in the set walked
    make_agent(acd_redis, 2, T0 - 200, {3: 2})
    make_agent(acd_redis, 3, T0 - 100, {3: 8})
    acd.enqueue(acd_redis, entry_id="CAx", queue_id=Q, priority=0, enqueued_at=T0)

    reservation = acd.reserve_next(acd_redis, [Q], T0)

    assert reservation.agent_id == 2
    [trace] = _traced(acd_redis)
    assert (trace["kind"], trace["call_sid"], trace["agent_id"], trace["rule"]) == ("offered", "CAx", 2,
                                                                                      "longest_idle")
    assert trace["required"] == {"3": 2} and float(trace["at"]) == T0
    assert [(c["agent_id"], c["idle_since"], c["levels"], c["eligible"]) for c in trace["candidates"]] == [
        (2, T0 - 200, {"3": 2}, True), (3, T0 - 100, {"3": 8}, True)]


def test_the_reserve_script_traces_the_sticky_agent_rule(acd_redis):
    configure(acd_redis, skills={3: 1}, reservation_timeout_seconds=15, sticky_agent_wait_seconds=30)
    make_agent(acd_redis, 1, T0 - 300, {3: 5})
    make_agent(acd_redis, 2, T0 - 10, {3: 5})
    acd.enqueue(acd_redis, entry_id="CAs", queue_id=Q, priority=0, enqueued_at=T0, sticky_agent_id=2,
                sticky_until=T0 + 30)

    assert acd.reserve_next(acd_redis, [Q], T0).agent_id == 2

    [trace] = _traced(acd_redis)
    assert trace["rule"] == "sticky" and trace["sticky_agent_id"] == 2
    assert {c["agent_id"] for c in trace["candidates"]} == {1, 2}
