"""The housekeeping pass: timers, heartbeats and repairs happen without any request arriving."""

from __future__ import annotations

import itertools
import threading
import time

import pytest

from callcenter.models import AuditEntry, Queue, QueueSkill
from callcenter.services import acd, agent_state, reachability, routing
from callcenter.services.auth import get_or_create_skill
from tests.support.servers import wait_until
from workers import ticker


@pytest.fixture
def app_config(app_config):
    # Pops are acknowledged by a console in real life; here no console runs, so give them time.
    app_config["OFFER_ACK_SECONDS"] = 60
    return app_config


def _queue(session) -> Queue:
    queue = Queue(name="Support", wrap_up_seconds=10)
    queue.skills = [QueueSkill(skill=get_or_create_skill(session, "support"), min_level=1)]
    session.add(queue)
    session.commit()
    return queue


def test_tick_expires_an_unanswered_offer_and_pings_connected_consoles(app, session, factory):
    r = app.extensions["callcenter.redis"]
    queue = _queue(session)
    alice = factory.user(skills={"support": 3})
    agent_state.login(session, r, alice.id)
    reachability.socket_connected(session, r, alice.id, "sid-1")
    now = time.time()
    routing.enqueue_call(session, r, call_sid="CA" + "3" * 32, queue_id=queue.id, from_number="+14155550100", now=now)
    assert agent_state.get_presence(r, alice.id).state == "reserved"
    pings = []
    from callcenter.services.events import bus

    bus.subscribe(pings.append)
    try:
        ticker.tick(app, now + queue.reservation_timeout_seconds + 1)
    finally:
        bus.unsubscribe(pings.append)

    presence = agent_state.get_presence(r, alice.id)
    assert (presence.state, presence.reason) == ("away", "missed")
    assert acd.get_entry(r, "CA" + "3" * 32).status == "waiting"
    assert [e.payload["agent_ids"] for e in pings if e.name == "agents.heartbeat"] == [[alice.id]]


def test_reconcile_frees_an_agent_left_on_a_call_that_ended(app, session, factory):
    r = app.extensions["callcenter.redis"]
    queue = _queue(session)
    alice = factory.user(skills={"support": 3})
    agent_state.login(session, r, alice.id)
    sid = "CA" + "4" * 32
    start = time.time() - 600
    routing.enqueue_call(session, r, call_sid=sid, queue_id=queue.id, from_number="+14155550100", now=start)
    routing.accept_offer(session, r, alice.id, sid, start + 1)
    # The call ended but its final status callback was lost; only the record says so.
    factory.call(call_sid=sid, status="completed")
    assert agent_state.get_presence(r, alice.id).state == "on_call"

    ticker.tick(app, time.time())

    assert agent_state.get_presence(r, alice.id).state in ("wrap_up", "available")
    repair = session.query(AuditEntry).filter_by(action="agent_state.repaired").one()
    assert repair.entity_id == str(alice.id) and repair.details["call_sid"] == sid


def test_only_one_ticker_acts_per_lease_and_another_takes_over(app, monkeypatch):
    """Two workers' tickers run at once: passes never overlap within a lease, and when the one holding it stops,
    the other carries on."""
    passes: list[tuple[threading.Thread, float]] = []
    lock = threading.Lock()

    def recording_tick(_app, now=None) -> None:
        with lock:
            passes.append((threading.current_thread(), time.monotonic()))

    monkeypatch.setattr(ticker, "tick", recording_tick)
    first, second = ticker.Ticker(app, interval=0.2), ticker.Ticker(app, interval=0.2)
    first.start()
    second.start()
    try:
        wait_until(lambda: len(passes) >= 8, message="eight ticker passes")
        with lock:
            seen = list(passes)
        gaps = [later - earlier for (_, earlier), (_, later) in itertools.pairwise(seen)]
        # A lease lasts 180 ms; two tickers without one would pass within milliseconds of each other.
        assert min(gaps) > 0.1, gaps
        holder, other = (first, second) if seen[-1][0] is first._thread else (second, first)
        holder.stop()  # its process dies
        wait_until(lambda: passes[-1][0] is other._thread, message="the other ticker takes over")
    finally:
        first.stop()
        second.stop()




def test_heartbeats_are_spread_over_the_interval_and_each_agent_is_pinged_once_per_interval(app, session, factory):
    """Consoles answering all at once stalled the web process every few seconds: one slot of the floor a second."""
    from callcenter.services.events import bus

    r = app.extensions["callcenter.redis"]
    agents = [factory.user(skills={"support": 3}) for _ in range(10)]
    for agent in agents:
        reachability.socket_connected(session, r, agent.id, f"sid-{agent.id}")
    interval = app.config["AGENT_HEARTBEAT_SECONDS"]
    start = float(int(time.time()))
    ticker.tick(app, start)  # the first pass pings everybody
    pinged_at: dict[float, list[int]] = {}
    pings: list = []
    bus.subscribe(pings.append)
    try:
        for second in range(1, 2 * interval + 1):
            pings.clear()
            ticker.tick(app, start + second)
            pinged_at[second] = sorted(a for e in pings if e.name == "agents.heartbeat" for a in e.payload["agent_ids"])
    finally:
        bus.unsubscribe(pings.append)

    ids = sorted(a.id for a in agents)
    for second, pinged in pinged_at.items():
        assert len(pinged) <= -(-len(ids) // interval), (second, pinged)  # a slice, never the whole floor
    for agent_id in ids:
        seconds = [second for second, pinged in pinged_at.items() if agent_id in pinged]
        assert len(seconds) == 2 and seconds[1] - seconds[0] == interval, (agent_id, seconds)
