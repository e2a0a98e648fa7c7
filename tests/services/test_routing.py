"""Routing scenarios through the service API: priority, skills, longest idle, sticky agent, timeouts, callbacks,
unreachable agents, and several processes racing to reserve on the real Redis."""

from __future__ import annotations

import json
import multiprocessing

import pytest
import redis
from sqlalchemy import select

from callcenter.models import AgentStateChange, Queue, QueueSkill
from callcenter.services import acd, agent_state, routing
from callcenter.services.auth import get_or_create_skill
from callcenter.services.errors import Conflict

T0 = 1_800_000_000.0
REGULAR = "+14155550100"
VIP = "+14155550111"


@pytest.fixture
def make_queue(session):
    def make(name: str = "Support", skills: dict[str, int] | None = None, **values) -> Queue:
        values.setdefault("sticky_agent_wait_seconds", 20)
        values.setdefault("reservation_timeout_seconds", 15)
        values.setdefault("wrap_up_seconds", 30)
        queue = Queue(name=name, **values)
        for skill, level in (skills or {}).items():
            queue.skills.append(QueueSkill(skill=get_or_create_skill(session, skill), min_level=level))
        session.add(queue)
        session.commit()
        return queue

    return make


@pytest.fixture
def make_agent(session, factory, acd_redis):
    def make(idle_since: float, skills: dict[str, int] | None = None) -> int:
        user = factory.user(skills=skills)
        agent_state.login(session, acd_redis, user.id, now=idle_since)
        return user.id

    return make


def enqueue(session, r, sid: str, queue: Queue, at: float, number: str = REGULAR, **kwargs):
    return routing.enqueue_call(session, r, call_sid=sid, queue_id=queue.id, from_number=number, now=at, **kwargs)


def test_vip_caller_is_answered_before_an_earlier_regular_caller(session, factory, acd_redis, make_queue,
                                                                 make_agent, events):
    r = acd_redis
    queue = make_queue()
    factory.contact(phones=(VIP,), vip=True)
    regular = enqueue(session, r, "CAregular", queue, T0)
    vip = enqueue(session, r, "CAvip", queue, T0 + 5, number=VIP)
    assert (regular.decision.priority, vip.decision.priority) == (0, 10)
    assert (vip.entry.priority, vip.position, acd.position(r, "CAregular")) == (10, 1, 2)

    first = make_agent(T0 + 10)
    offers = routing.dispatch(session, r, T0 + 10)

    assert [(o.call_sid, o.agent_id) for o in offers] == [("CAvip", first)]
    assert offers[0].expires_at == T0 + 25
    assert events.named("offer.created")[0]["call_sid"] == "CAvip"
    second = make_agent(T0 + 11)
    assert [(o.call_sid, o.agent_id) for o in routing.dispatch(session, r, T0 + 11)] == [("CAregular", second)]


def test_skills_are_respected(session, acd_redis, make_queue, make_agent):
    r = acd_redis
    queue = make_queue(skills={"spanish": 5, "billing": 1})
    make_agent(T0 - 500, {"spanish": 9})  # no billing
    make_agent(T0 - 400, {"spanish": 4, "billing": 5})  # not fluent enough
    qualified = make_agent(T0 - 100, {"spanish": 5, "billing": 1})

    result = enqueue(session, r, "CA1", queue, T0)

    assert [(o.call_sid, o.agent_id) for o in result.offers] == [("CA1", qualified)]
    assert result.position is None
    enqueue(session, r, "CA2", queue, T0 + 1)
    assert routing.dispatch(session, r, T0 + 2) == []
    assert acd.position(r, "CA2") == 1


def test_the_longest_idle_agent_is_chosen_and_goes_to_the_back_after_a_call(session, acd_redis, make_queue,
                                                                           make_agent):
    r = acd_redis
    queue = make_queue(wrap_up_seconds=0)
    middle = make_agent(T0 - 200)
    longest = make_agent(T0 - 300)
    newest = make_agent(T0 - 100)

    assert enqueue(session, r, "CA1", queue, T0).offers[0].agent_id == longest
    routing.accept_offer(session, r, longest, "CA1", T0 + 2)
    routing.finish_call(session, r, "CA1", T0 + 60)
    assert agent_state.get_presence(r, longest).state == "available"

    assert enqueue(session, r, "CA2", queue, T0 + 61).offers[0].agent_id == middle
    assert enqueue(session, r, "CA3", queue, T0 + 62).offers[0].agent_id == newest
    assert enqueue(session, r, "CA4", queue, T0 + 63).offers[0].agent_id == longest


def test_sticky_agent_gets_the_returning_caller(session, factory, acd_redis, make_queue, make_agent):
    r = acd_redis
    queue = make_queue()
    contact = factory.contact(phones=(REGULAR,))
    make_agent(T0 - 500)
    last = make_agent(T0 - 10)
    factory.call(call_sid="CAbefore", contact_id=contact.id, agent_id=last, from_number=REGULAR)

    result = enqueue(session, r, "CA1", queue, T0)

    assert result.entry.sticky_agent_id == last
    assert result.offers[0].agent_id == last


def test_sticky_call_waits_for_its_agent_within_the_wait_then_goes_to_another(session, factory, acd_redis,
                                                                           make_queue, make_agent):
    r = acd_redis
    queue = make_queue(sticky_agent_wait_seconds=20)
    contact = factory.contact(phones=(REGULAR,))
    other = make_agent(T0 - 500)
    last = make_agent(T0 - 10)
    agent_state.change_state(session, r, last, "away", "break", now=T0 - 5)
    factory.call(call_sid="CAbefore", contact_id=contact.id, agent_id=last, from_number=REGULAR)

    assert enqueue(session, r, "CA1", queue, T0).offers == []
    # Someone else's call is not held up behind it.
    assert [o.call_sid for o in enqueue(session, r, "CA2", queue, T0 + 1, number="+14155550999").offers] == ["CA2"]
    routing.accept_offer(session, r, other, "CA2", T0 + 2)
    assert routing.tick(session, r, T0 + 19).offers == []

    agent_state.change_state(session, r, last, "available", now=T0 + 19.5)
    assert [(o.call_sid, o.agent_id) for o in routing.dispatch(session, r, T0 + 19.5)] == [("CA1", last)]

    # The contact calls again while their agent is on that call: after the wait the call moves on.
    routing.accept_offer(session, r, last, "CA1", T0 + 20)
    routing.finish_call(session, r, "CA2", T0 + 20)  # `other` wraps up until T0 + 50
    assert enqueue(session, r, "CA3", queue, T0 + 30).offers == []
    assert [(o.call_sid, o.agent_id) for o in routing.tick(session, r, T0 + 50).offers] == [("CA3", other)]


def test_sticky_agent_who_is_offline_does_not_hold_the_call(session, factory, acd_redis, make_queue, make_agent):
    r = acd_redis
    queue = make_queue()
    contact = factory.contact(phones=(REGULAR,))
    other = make_agent(T0 - 500)
    gone = factory.user().id
    factory.call(call_sid="CAbefore", contact_id=contact.id, agent_id=gone, from_number=REGULAR)

    assert enqueue(session, r, "CA1", queue, T0).offers[0].agent_id == other


def test_unanswered_offer_times_out_sets_agent_away_missed_and_reoffers(session, acd_redis, make_queue,
                                                                       make_agent, events):
    r = acd_redis
    queue = make_queue(reservation_timeout_seconds=15)
    first = make_agent(T0 - 300)
    second = make_agent(T0 - 100)
    offer = enqueue(session, r, "CA1", queue, T0).offers[0]
    assert (offer.agent_id, offer.expires_at) == (first, T0 + 15)
    assert routing.current_offer(r, first) == offer  # e.g. to restore the console after a reload

    assert routing.tick(session, r, T0 + 14.9).expired == []
    result = routing.tick(session, r, T0 + 15)

    assert [(e.call_sid, e.agent_id) for e in result.expired] == [("CA1", first)]
    assert [(o.call_sid, o.agent_id) for o in result.offers] == [("CA1", second)]
    presence = agent_state.get_presence(r, first)
    assert (presence.state, presence.reason) == ("away", "missed")
    assert routing.current_offer(r, first) is None
    assert events.named("offer.expired") == [
        {"agent_id": first, "call_sid": "CA1", "queue_id": queue.id, "at": agent_state.iso(T0 + 15)}
    ]
    missed = session.scalars(select(AgentStateChange).where(AgentStateChange.agent_id == first,
                                                            AgentStateChange.reason == "missed")).one()
    assert (missed.from_state, missed.to_state, missed.call_sid) == ("reserved", "away", "CA1")
    with pytest.raises(Conflict):
        routing.accept_offer(session, r, first, "CA1", T0 + 16)
    assert routing.accept_offer(session, r, second, "CA1", T0 + 16).status == "connected"


def test_rejected_offer_goes_to_another_agent_first(session, acd_redis, make_queue, make_agent, events):
    r = acd_redis
    queue = make_queue()
    first = make_agent(T0 - 300)
    second = make_agent(T0 - 100)
    enqueue(session, r, "CA1", queue, T0)
    enqueue(session, r, "CA2", queue, T0 + 1)
    assert (acd.get_entry(r, "CA1").agent_id, acd.get_entry(r, "CA2").agent_id) == (first, second)

    routing.finish_call(session, r, "CA2", T0 + 2)  # CA2's caller hangs up while `second` is being rung
    offers = routing.reject_offer(session, r, first, "CA1", T0 + 3)

    assert [(o.call_sid, o.agent_id) for o in offers] == [("CA1", second)]
    assert agent_state.get_presence(r, first).state == "available"
    assert agent_state.get_presence(r, first).idle_since == T0 + 3
    assert events.named("offer.cancelled")[0]["call_sid"] == "CA2"
    with pytest.raises(Conflict):
        routing.reject_offer(session, r, first, "CA1", T0 + 4)


def test_a_rejected_call_comes_back_to_the_only_agent(session, acd_redis, make_queue, make_agent):
    r = acd_redis
    queue = make_queue()
    only = make_agent(T0)
    enqueue(session, r, "CA1", queue, T0)
    assert [o.agent_id for o in routing.reject_offer(session, r, only, "CA1", T0 + 1)] == [only]


def test_callback_keeps_the_place_and_is_unique_per_number_and_queue(session, acd_redis, make_queue,
                                                                   make_agent, events):
    r = acd_redis
    queue = make_queue(wrap_up_seconds=0)
    enqueue(session, r, "CA1", queue, T0, number=REGULAR)
    enqueue(session, r, "CA2", queue, T0 + 10, number="+14155550102")

    entry = routing.request_callback(session, r, "CA1", "(415) 555-0100", now=T0 + 30, payload={"menu": "1"})
    routing.finish_call(session, r, "CA1", T0 + 31)  # the caller hangs up; the callback keeps the place
    enqueue(session, r, "CA3", queue, T0 + 40, number="+14155550103")

    assert (entry.entry_id, entry.enqueued_at, entry.callback) == ("cb-CA1", T0, True)
    assert entry.payload == {"menu": "1", "kind": "callback", "phone": REGULAR, "original_call_sid": "CA1"}
    assert [e.entry_id for e in acd.waiting_entries(r, queue.id)] == ["cb-CA1", "CA2", "CA3"]
    assert events.named("queue.callback_created")[0]["entry_id"] == "cb-CA1"

    enqueue(session, r, "CA4", queue, T0 + 50, number=REGULAR)
    with pytest.raises(Conflict):
        routing.request_callback(session, r, "CA4", REGULAR, now=T0 + 51)

    agent = make_agent(T0 + 60)
    offer = routing.dispatch(session, r, T0 + 60)[0]
    assert (offer.call_sid, offer.callback, offer.payload["phone"]) == ("cb-CA1", True, REGULAR)
    routing.accept_offer(session, r, agent, "cb-CA1", T0 + 61)
    with pytest.raises(Conflict):  # still open while the agent is calling back
        routing.request_callback(session, r, "CA4", REGULAR, now=T0 + 62)
    routing.finish_call(session, r, "cb-CA1", T0 + 120)
    assert routing.request_callback(session, r, "CA4", REGULAR, now=T0 + 121).enqueued_at == T0 + 50


def test_enqueue_callback_restores_a_callback_at_its_original_time(session, acd_redis, make_queue):
    r = acd_redis
    queue = make_queue()
    enqueue(session, r, "CA1", queue, T0 + 100)
    assert routing.enqueue_callback(session, r, entry_id="cb-42", queue_id=queue.id, phone=VIP, priority=0,
                                    enqueued_at=T0, now=T0 + 200)
    assert not routing.enqueue_callback(session, r, entry_id="cb-42", queue_id=queue.id, phone=VIP, priority=0,
                                        enqueued_at=T0, now=T0 + 200)
    with pytest.raises(Conflict):
        routing.enqueue_callback(session, r, entry_id="cb-43", queue_id=queue.id, phone=VIP, priority=0,
                                 enqueued_at=T0, now=T0 + 200)
    assert [e.entry_id for e in acd.waiting_entries(r, queue.id)] == ["cb-42", "CA1"]


def test_an_unreachable_agent_gets_no_offer(session, acd_redis, make_queue, make_agent):
    r = acd_redis
    queue = make_queue()
    flaky = make_agent(T0 - 500)
    agent_state.set_unreachable(r, flaky, True, now=T0 - 1)

    assert enqueue(session, r, "CA1", queue, T0).offers == []
    assert agent_state.get_presence(r, flaky).state == "available"  # state kept

    steady = make_agent(T0 + 1)
    assert [o.agent_id for o in routing.dispatch(session, r, T0 + 1)] == [steady]
    enqueue(session, r, "CA2", queue, T0 + 2)
    agent_state.set_unreachable(r, flaky, False, now=T0 + 3)
    assert [(o.call_sid, o.agent_id) for o in routing.dispatch(session, r, T0 + 3)] == [("CA2", flaky)]


def test_enqueue_is_idempotent_and_finish_handles_every_stage(session, acd_redis, make_queue, make_agent,
                                                              events):
    r = acd_redis
    queue = make_queue(wrap_up_seconds=30)
    enqueue(session, r, "CA1", queue, T0)
    again = enqueue(session, r, "CA1", queue, T0 + 5)
    assert (again.created, again.entry.enqueued_at) == (False, T0)
    assert events.named("queue.changed")[-1] == {"queue_id": queue.id, "waiting": 1, "in_queue": 1,
                                                 "longest_wait": 0.0}

    assert routing.finish_call(session, r, "CA1", T0 + 30).status == "waiting"  # abandoned
    assert acd.queue_stats(r, queue.id, T0 + 30).in_queue == 0
    assert routing.finish_call(session, r, "CA1", T0 + 31) is None

    agent = make_agent(T0 + 40)
    enqueue(session, r, "CA2", queue, T0 + 41)
    routing.accept_offer(session, r, agent, "CA2", T0 + 42)
    finished = routing.finish_call(session, r, "CA2", T0 + 100)
    assert (finished.status, finished.agent_state, finished.wrap_up_until) == ("connected", "wrap_up", T0 + 130)
    assert routing.tick(session, r, T0 + 129).wrap_ups_ended == []
    assert routing.tick(session, r, T0 + 130).wrap_ups_ended == [agent]
    assert agent_state.get_presence(r, agent).state == "available"


def test_joining_a_queue_brings_redis_its_routing_settings(session, acd_redis, make_queue, make_agent):
    """The enqueue script stores the queue's settings where Redis's copy is missing or stale: the reserve script
    reads them from there (here the offer's 7-second timeout)."""
    r = acd_redis
    queue = make_queue(reservation_timeout_seconds=7)
    r.set(acd.config_key(queue.id), json.dumps({"skills": {}, "reservation_timeout_seconds": 99,
                                                "wrap_up_seconds": 1, "sticky_agent_wait_seconds": 0}))
    agent = make_agent(T0 - 10)

    result = enqueue(session, r, "CA1", queue, T0)

    assert acd.load_queue_config(r, queue.id).reservation_timeout_seconds == 7
    assert queue.id in acd.configured_queue_ids(r)
    assert [(o.agent_id, o.expires_at) for o in result.offers] == [(agent, T0 + 7)]


def test_a_new_caller_offered_at_once_ends_the_search(session, acd_redis, make_queue, make_agent, monkeypatch):
    """No agent became free when a caller joined, so once that caller is offered there is nothing more to offer:
    joining costs one reserve attempt, not a second one that finds nobody."""
    r = acd_redis
    queue = make_queue()
    make_agent(T0 - 20)
    make_agent(T0 - 10)
    attempts = []
    real = acd.reserve_next
    monkeypatch.setattr(acd, "reserve_next", lambda *args: attempts.append(args) or real(*args))

    result = enqueue(session, r, "CA1", queue, T0)

    assert [o.call_sid for o in result.offers] == ["CA1"]
    assert len(attempts) == 1


def test_a_caller_who_joins_while_nobody_is_free_costs_no_reserve_attempt_and_goes_to_the_next_free_agent(
        session, acd_redis, make_queue, make_agent, monkeypatch, events):
    """The enqueue script says whether anyone was available as the caller joined: when nobody was (the whole
    floor busy, or not yet logged in), a reserve attempt would find nobody, and is not made; and what the caller
    answers with (their place, the queue's figures) came back with the join, so joining is one round trip. The
    caller waits in line, and the first agent freed takes them."""
    r = acd_redis
    queue = make_queue()
    busy = make_agent(T0 - 30)
    assert [o.agent_id for o in enqueue(session, r, "CAfirst", queue, T0 - 20).offers] == [busy]
    routing.accept_offer(session, r, busy, "CAfirst", T0 - 19)
    enqueue(session, r, "CAsecond", queue, T0 - 10)
    attempts, reads = [], []
    real = acd.reserve_next
    monkeypatch.setattr(acd, "reserve_next", lambda *args: attempts.append(args) or real(*args))
    monkeypatch.setattr(acd, "entry_position_and_stats", lambda *args: reads.append(args))
    r.set("cc:test:estimate", "42")

    result = enqueue(session, r, "CA1", queue, T0, read_along=["cc:test:estimate"])

    assert (result.created, result.offers, result.position, attempts, reads) == (True, [], 2, [], [])
    assert result.read_along == {"cc:test:estimate": b"42"}
    assert events.named("queue.changed")[-1] == {"queue_id": queue.id, "waiting": 2, "in_queue": 2,
                                                 "longest_wait": 10.0}
    assert [e["call_sid"] for e in events.named("offer.created")] == ["CAfirst"]
    assert acd.get_entry(r, "CA1").status == "waiting"
    freed = make_agent(T0 + 5)
    assert [(o.call_sid, o.agent_id) for o in routing.dispatch(session, r, T0 + 5, [queue.id])] == [
        ("CAsecond", freed)]
    assert [e["call_sid"] for e in events.named("offer.created")] == ["CAfirst", "CAsecond"]


def test_an_offer_made_as_the_caller_joins_waits_for_the_callers_commit(session, acd_redis, make_queue, make_agent,
                                                                       events):
    """With commit=False the menu webhook's events and the offer commit together: one transaction, and the pop
    (built on "offer.created") never reads a call record the webhook has not committed."""
    queue = make_queue()
    agent = make_agent(T0 - 10)

    result = enqueue(session, acd_redis, "CA1", queue, T0, commit=False)

    assert [(o.call_sid, o.agent_id) for o in result.offers] == [("CA1", agent)]
    assert events.named("offer.created") == []
    session.commit()
    assert [e["call_sid"] for e in events.named("offer.created")] == ["CA1"]


def test_inactive_queue_refuses_callers(session, acd_redis, make_queue):
    queue = make_queue(active=False)
    with pytest.raises(Conflict):
        enqueue(session, acd_redis, "CA1", queue, T0)


# --- Several processes racing on the real Redis -----------------------------------------------------------------


def _race(url: str, queue_id: int, start, results, cycle: bool) -> None:
    """One web process: reserve as fast as possible; with `cycle`, also take and end each call."""
    r = redis.Redis.from_url(url)
    start.wait(60)  # a barrier: every process starts reserving at the same moment
    mine = []
    clock = T0
    while True:
        clock += 0.001
        offer = routing.reserve_next(r, [queue_id], clock)
        if offer is None:
            if not cycle or acd.queue_stats(r, queue_id, clock).in_queue == 0:
                break
            continue
        # Count holders of this agent: more than one at a time would be a double reservation.
        holders = r.incr(f"test:holding:{offer.agent_id}")
        mine.append((offer.call_sid, offer.agent_id, holders))
        if cycle:
            assert acd.accept(r, offer.agent_id, offer.call_sid, clock)
            r.decr(f"test:holding:{offer.agent_id}")
            acd.finish(r, offer.call_sid, clock)  # wrap-up 0: straight back to available
    results.put(mine)
    r.close()


def _run_race(url: str, processes: int, cycle: bool) -> list[tuple[str, int, int]]:
    context = multiprocessing.get_context("spawn")
    start = context.Barrier(processes)
    results = context.Queue()
    workers = [context.Process(target=_race, args=(url, 1, start, results, cycle)) for _ in range(processes)]
    for worker in workers:
        worker.start()
    collected = [item for _ in workers for item in results.get(timeout=60)]
    for worker in workers:
        worker.join(30)
        assert worker.exitcode == 0
    return collected


def _race_setup(r) -> None:
    acd.store_queue_config(r, acd.QueueConfig(queue_id=1, skills={1: 1}, wrap_up_seconds=0))
    for agent_id in range(1, 11):
        acd.set_agent_flag(r, agent_id, "skills", json.dumps({"1": 5}))
        acd.set_agent_state(r, agent_id, "available", ("offline",), T0 - agent_id, "login")
    for n in range(50):
        acd.enqueue(r, entry_id=f"CA{n:03d}", queue_id=1, priority=n % 3, enqueued_at=T0 - 100 + n)


@pytest.mark.slow
@pytest.mark.parametrize("processes", [2, 4])
def test_processes_racing_never_double_reserve(redis_server, acd_redis, processes):
    r = acd_redis
    _race_setup(r)

    reserved = _run_race(redis_server.url, processes, cycle=False)

    assert len(reserved) == 10
    assert len({sid for sid, _, _ in reserved}) == 10
    assert sorted(agent for _, agent, _ in reserved) == list(range(1, 11))
    assert all(holders == 1 for _, _, holders in reserved)
    assert acd.queue_stats(r, 1, T0).waiting == 40
    assert acd.available_agents(r) == []
    # The ten served first are the ten best by priority, then time.
    best = [e.entry_id for e in acd.waiting_entries(r, 1, 100)]
    assert set(best).isdisjoint(sid for sid, _, _ in reserved)
    assert len(acd.pop_state_log(r, 1000)) == 20  # 10 logins + 10 reservations, each logged once


@pytest.mark.slow
def test_processes_racing_through_a_whole_queue_serve_each_call_once(redis_server, acd_redis):
    r = acd_redis
    _race_setup(r)

    handled = _run_race(redis_server.url, 4, cycle=True)

    assert sorted(sid for sid, _, _ in handled) == [f"CA{n:03d}" for n in range(50)]
    assert all(holders == 1 for _, _, holders in handled)
    assert sorted(acd.available_agents(r)) == list(range(1, 11))
    assert acd.queue_stats(r, 1, T0).in_queue == 0
