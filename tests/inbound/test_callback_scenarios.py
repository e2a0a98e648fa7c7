"""Callbacks through the emulated carrier: a caller who gives up waiting is called back, and an agent's own
callback rings that agent first."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from callcenter.models import Callback, CallbackAttempt
from callcenter.services import acd, agent_state, callbacks
from callcenter.services.interactions import agent_identity
from tests.inbound.conftest import NUMBER
from tests.inbound.test_inbound_calls import _available, _wait_for_event
from tests.realtime.conftest import received
from tests.support.servers import wait_until
from workers import ticker

DANA = "+14155550166"


def test_a_caller_who_hangs_up_after_waiting_is_called_back_once(
        app, session, factory, console, sim_carrier, redis_client, line):
    sales = line["Sales"]
    sales.abandoned_callbacks, sales.abandoned_callback_min_wait_seconds = True, 1
    session.commit()
    caller = sim_carrier.dial(DANA, NUMBER)
    caller.wait_for_say("For sales")
    caller.press("1")
    entry = wait_until(lambda: acd.get_entry(redis_client, caller.sid), message="the caller waiting in Sales")
    wait_until(lambda: time.time() - entry.enqueued_at > 1.2, message="the caller waited the queue's minimum")
    caller.hangup()
    booked = wait_until(lambda: session.scalars(select(Callback)).all() or session.expire_all(),
                        message="a callback booked for the caller who hung up")
    assert [(c.phone_e164, c.queue_id, c.source, c.status) for c in booked] == [(DANA, sales.id, "abandoned",
                                                                                "scheduled")]

    bob = factory.user(skills={"sales": 5}, username="bob")
    sim_carrier.phone(DANA, answer="auto", ring_seconds=0.2)
    softphone = sim_carrier.client(agent_identity(bob.id))
    sock = _available(console, bob)
    ticker.tick(app, time.time())
    [offer] = _wait_for_event(sock, "offer")
    assert offer["callback"] is True
    sock.emit("offer_ack", {"call_sid": offer["call_sid"]}, namespace="/agent", callback=True)
    softphone.wait_for_incoming()
    softphone.accept()
    leg = wait_until(lambda: next((c for c in sim_carrier.calls.values() if c.to == DANA and c.answered), None),
                     message="Dana answered the callback")
    sim_carrier.handle(leg.sid).hangup()
    wait_until(lambda: agent_state.get_presence(redis_client, bob.id).state == "wrap_up", message="bob wraps up")

    session.expire_all()
    assert [c.to for c in sim_carrier.calls.values() if c.direction != "inbound"].count(DANA) == 1
    callback = session.get(Callback, booked[0].id)
    assert (callback.status, callback.attempts) == ("completed", 1)
    attempt = session.scalars(select(CallbackAttempt)).one()
    assert (attempt.agent_id, attempt.call_sid, attempt.result) == (bob.id, leg.sid, "answered")


def test_an_agents_own_callback_rings_that_agent_though_a_colleague_waited_longer(
        app, session, factory, console, sim_carrier, redis_client, line):
    alice = factory.user(skills={"sales": 5}, username="alice")
    bob = factory.user(skills={"sales": 5}, username="bob")
    alice_sock = _available(console, alice)  # longest idle: she would get any other call
    bob_sock = _available(console, bob)
    own = Callback(phone_e164=DANA, queue_id=line["Sales"].id, owner_id=bob.id, source="wrap_up",
                   created_by_id=bob.id, status="scheduled", requested_at=datetime.now(UTC) - timedelta(days=1),
                   due_at=datetime.now(UTC))
    session.add(own)
    session.commit()

    ticker.tick(app, time.time())

    [offer] = _wait_for_event(bob_sock, "offer")
    assert (offer["callback"], offer["call_sid"]) == (True, callbacks.entry_id_of(own))
    assert received(alice_sock, "offer") == []
