"""The Redis primitives of the ACD, on a real Redis: ordering, reservations, callbacks, the transition log."""

from __future__ import annotations

import json

import pytest

from callcenter.services import acd
from callcenter.services.errors import Conflict, NotFound

T0 = 1_800_000_000.0
Q = 7
SPANISH = 3


def make_agent(r, agent_id: int, idle_since: float, skills: dict[int, int] | None = None) -> None:
    acd.set_agent_flag(r, agent_id, "skills", json.dumps({str(k): v for k, v in (skills or {}).items()}))
    outcome, _ = acd.set_agent_state(r, agent_id, "available", ("offline",), idle_since, "login")
    assert outcome == "ok"


def configure(r, queue_id: int = Q, **values) -> None:
    acd.store_queue_config(r, acd.QueueConfig(queue_id=queue_id, **values))


def test_score_orders_by_priority_then_enqueue_time():
    assert acd.priority_score(10, T0 + 50) < acd.priority_score(0, T0)
    assert acd.priority_score(0, T0) < acd.priority_score(0, T0 + 0.001)
    # Clamped so the score stays an exact integer in a double.
    assert acd.priority_score(10_000, T0) == acd.priority_score(acd.PRIORITY_LIMIT, T0)
    assert abs(acd.priority_score(acd.PRIORITY_LIMIT, T0)) < 2**53


def test_enqueue_is_idempotent_and_orders_waiting_entries(acd_redis):
    r = acd_redis
    configure(r)
    assert acd.enqueue(r, entry_id="CA1", queue_id=Q, priority=0, enqueued_at=T0, from_number="+14155550101")
    assert acd.enqueue(r, entry_id="CA2", queue_id=Q, priority=0, enqueued_at=T0 + 1)
    assert acd.enqueue(r, entry_id="CA3", queue_id=Q, priority=5, enqueued_at=T0 + 2, payload={"menu": "2"})
    assert not acd.enqueue(r, entry_id="CA1", queue_id=Q, priority=99, enqueued_at=T0 + 3)

    assert [e.entry_id for e in acd.waiting_entries(r, Q)] == ["CA3", "CA1", "CA2"]
    assert [acd.position(r, sid) for sid in ("CA1", "CA2", "CA3")] == [2, 3, 1]
    assert acd.position(r, "CA404") is None
    entry = acd.get_entry(r, "CA1")
    assert (entry.priority, entry.from_number, entry.status) == (0, "+14155550101", "waiting")
    assert acd.get_entry(r, "CA3").payload == {"menu": "2"}
    stats = acd.queue_stats(r, Q, T0 + 10)
    assert (stats.waiting, stats.in_queue, stats.longest_wait) == (3, 3, 10.0)


def test_reserve_takes_longest_idle_agent_with_the_skills(acd_redis):
    r = acd_redis
    configure(r, skills={SPANISH: 5}, reservation_timeout_seconds=15)
    make_agent(r, 1, T0 - 300, {SPANISH: 4})  # idle longest, but not fluent enough
    make_agent(r, 2, T0 - 100, {SPANISH: 5})
    make_agent(r, 3, T0 - 200, {SPANISH: 9})
    acd.enqueue(r, entry_id="CA1", queue_id=Q, priority=0, enqueued_at=T0)

    reservation = acd.reserve_next(r, [Q], T0 + 1)

    assert (reservation.call_sid, reservation.agent_id, reservation.expires_at) == ("CA1", 3, T0 + 16)
    assert acd.agent_hash(r, 3)["state"] == "reserved"
    assert acd.available_agents(r) == [1, 2]
    assert acd.get_entry(r, "CA1").status == "reserved"
    stats = acd.queue_stats(r, Q, T0 + 1)
    assert (stats.waiting, stats.in_queue) == (0, 1)
    assert acd.reserve_next(r, [Q], T0 + 1) is None  # nothing else waiting


def test_per_call_skills_add_to_the_queue_requirements(acd_redis):
    r = acd_redis
    configure(r)
    make_agent(r, 1, T0 - 300, {})
    make_agent(r, 2, T0 - 100, {SPANISH: 6})
    acd.enqueue(r, entry_id="CA1", queue_id=Q, priority=0, enqueued_at=T0, skills={SPANISH: 6})
    assert acd.reserve_next(r, [Q], T0).agent_id == 2


def test_unreachable_disconnected_and_busy_agents_are_not_offered(acd_redis):
    r = acd_redis
    configure(r)
    make_agent(r, 1, T0 - 300)
    make_agent(r, 2, T0 - 200)
    acd.set_agent_flag(r, 1, "unreachable", "1")
    acd.set_agent_flag(r, 2, "disconnected_at", T0, acd.DISCONNECTED, T0)
    acd.enqueue(r, entry_id="CA1", queue_id=Q, priority=0, enqueued_at=T0)
    assert acd.available_agents(r) == []
    assert acd.reserve_next(r, [Q], T0) is None

    acd.set_agent_flag(r, 1, "unreachable", None)
    assert acd.reserve_next(r, [Q], T0).agent_id == 1


def test_accept_reading_answers_the_connected_entry_and_its_queue_as_the_accept_left_them(acd_redis):
    r = acd_redis
    configure(r)
    make_agent(r, 1, T0)
    acd.enqueue(r, entry_id="CA1", queue_id=Q, priority=0, enqueued_at=T0, payload={"menu": "1"})
    acd.enqueue(r, entry_id="CA2", queue_id=Q, priority=0, enqueued_at=T0 + 3)
    acd.reserve_next(r, [Q], T0 + 5)

    assert acd.accept_reading(r, 2, "CA1", T0 + 6) is None  # not this agent's offer
    entry, stats = acd.accept_reading(r, 1, "CA1", T0 + 6)
    assert (entry.entry_id, entry.status, entry.agent_id, entry.payload) == ("CA1", "connected", 1, {"menu": "1"})
    assert (stats.queue_id, stats.waiting, stats.in_queue, stats.longest_wait) == (Q, 1, 1, 3.0)
    assert stats == acd.queue_stats(r, Q, T0 + 6)
    assert acd.agent_hash(r, 1)["state"] == "on_call"
    assert acd.accept_reading(r, 1, "CA1", T0 + 7) is None  # only once


def test_inactive_or_unconfigured_queues_are_not_served(acd_redis):
    r = acd_redis
    configure(r, active=False)
    make_agent(r, 1, T0)
    acd.enqueue(r, entry_id="CA1", queue_id=Q, priority=0, enqueued_at=T0)
    acd.enqueue(r, entry_id="CA2", queue_id=99, priority=0, enqueued_at=T0)
    assert acd.reserve_next(r, [Q, 99], T0) is None


def test_accept_then_finish_goes_to_wrap_up_and_frees_the_entry(acd_redis):
    r = acd_redis
    configure(r, wrap_up_seconds=30)
    make_agent(r, 1, T0)
    acd.enqueue(r, entry_id="CA1", queue_id=Q, priority=0, enqueued_at=T0)
    acd.reserve_next(r, [Q], T0 + 1)

    assert not acd.accept(r, 2, "CA1", T0 + 2)  # not this agent's offer
    assert acd.accept(r, 1, "CA1", T0 + 2)
    assert not acd.accept(r, 1, "CA1", T0 + 2)  # only once
    assert acd.agent_hash(r, 1)["state"] == "on_call"
    assert acd.due_reservations(r, T0 + 100) == []

    finished = acd.finish(r, "CA1", T0 + 60)
    assert (finished.status, finished.agent_id, finished.agent_state, finished.wrap_up_until) == (
        "connected", 1, "wrap_up", T0 + 90)
    assert acd.get_entry(r, "CA1") is None
    assert acd.due_wrap_ups(r, T0 + 89) == []
    assert acd.due_wrap_ups(r, T0 + 90) == [1]
    assert acd.finish(r, "CA1", T0 + 61) is None  # repeated status callback


def test_finish_while_ringing_gives_the_agent_back_their_idle_place(acd_redis):
    r = acd_redis
    configure(r)
    make_agent(r, 1, T0 - 500)
    make_agent(r, 2, T0 - 100)
    acd.enqueue(r, entry_id="CA1", queue_id=Q, priority=0, enqueued_at=T0)
    assert acd.reserve_next(r, [Q], T0).agent_id == 1

    finished = acd.finish(r, "CA1", T0 + 3)

    assert (finished.status, finished.agent_id, finished.agent_state) == ("reserved", 1, "available")
    assert acd.available_agents(r) == [1, 2]
    assert float(acd.agent_hash(r, 1)["idle_since"]) == T0 - 500


def test_missed_release_only_after_expiry_and_keeps_the_place(acd_redis):
    r = acd_redis
    configure(r, reservation_timeout_seconds=15)
    make_agent(r, 1, T0)
    acd.enqueue(r, entry_id="CA1", queue_id=Q, priority=0, enqueued_at=T0)
    acd.enqueue(r, entry_id="CA2", queue_id=Q, priority=0, enqueued_at=T0 + 5)
    acd.reserve_next(r, [Q], T0 + 10)

    assert acd.release(r, "CA1", T0 + 24, "missed") is None
    assert acd.due_reservations(r, T0 + 25) == ["CA1"]
    released = acd.release(r, "CA1", T0 + 25, "missed")

    assert (released.agent_id, released.queue_id) == (1, Q)
    assert acd.agent_hash(r, 1)["state"] == "away"
    assert acd.agent_hash(r, 1)["reason"] == "missed"
    assert [e.entry_id for e in acd.waiting_entries(r, Q)] == ["CA1", "CA2"]


def test_callback_entry_is_unique_per_number_and_queue(acd_redis):
    r = acd_redis
    configure(r)
    configure(r, queue_id=8)
    acd.enqueue(r, entry_id="cb-1", queue_id=Q, priority=0, enqueued_at=T0, callback_phone="+14155550101")
    with pytest.raises(Conflict):
        acd.enqueue(r, entry_id="cb-2", queue_id=Q, priority=0, enqueued_at=T0, callback_phone="+14155550101")
    assert acd.enqueue(r, entry_id="cb-3", queue_id=8, priority=0, enqueued_at=T0, callback_phone="+14155550101")
    assert acd.open_callback(r, Q, "+14155550101") == "cb-1"
    assert acd.get_entry(r, "cb-1").callback

    acd.finish(r, "cb-1", T0 + 1)
    assert acd.open_callback(r, Q, "+14155550101") is None
    assert acd.enqueue(r, entry_id="cb-2", queue_id=Q, priority=0, enqueued_at=T0, callback_phone="+14155550101")


def test_convert_to_callback_keeps_score_and_refuses_offered_calls(acd_redis):
    r = acd_redis
    configure(r)
    acd.enqueue(r, entry_id="CA1", queue_id=Q, priority=3, enqueued_at=T0, from_number="+14155550101")
    acd.enqueue(r, entry_id="CA2", queue_id=Q, priority=3, enqueued_at=T0 + 1)

    entry = acd.convert_to_callback(r, "CA1", new_entry_id="cb-CA1", phone_e164="+14155550101",
                                    payload={"kind": "callback"}, now=T0 + 30)

    assert (entry.callback, entry.priority, entry.enqueued_at, entry.from_number) == (True, 3, T0, "+14155550101")
    assert [e.entry_id for e in acd.waiting_entries(r, Q)] == ["cb-CA1", "CA2"]
    assert acd.get_entry(r, "CA1") is None
    with pytest.raises(NotFound):
        acd.convert_to_callback(r, "CA1", new_entry_id="x", phone_e164="+1", payload={}, now=T0)

    make_agent(r, 1, T0)
    make_agent(r, 2, T0)
    assert [acd.reserve_next(r, [Q], T0 + 31).call_sid for _ in range(2)] == ["cb-CA1", "CA2"]
    with pytest.raises(Conflict):
        acd.convert_to_callback(r, "CA2", new_entry_id="cb-CA2", phone_e164="+14155550102", payload={}, now=T0)


def test_state_compare_and_set_and_the_transition_log(acd_redis):
    r = acd_redis
    assert acd.set_agent_state(r, 5, "away", ("available",), T0, "lunch") == ("illegal", "offline")
    assert acd.set_agent_state(r, 5, "available", ("offline",), T0, "login") == ("ok", "offline")
    assert acd.set_agent_state(r, 5, "available", ("offline",), T0 + 1) == ("same", "available")
    assert acd.set_agent_state(r, 5, "away", ("available",), T0 + 2, "lunch") == ("ok", "available")

    log = acd.pop_state_log(r)
    assert [(e["from_state"], e["to_state"], e.get("reason"), float(e["at"])) for e in log] == [
        ("offline", "available", "login", T0),
        ("available", "away", "lunch", T0 + 2),
    ]
    acd.restore_state_log(r, log)
    assert acd.pop_state_log(r, 1) == log[:1]
