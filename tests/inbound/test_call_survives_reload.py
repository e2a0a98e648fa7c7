"""A console reload drops the agent's softphone leg, not the caller: the agent rejoins, or the caller is queued
again when the agent does not come back in time. Hanging up on purpose ends the call for everyone."""

from __future__ import annotations

import time

import pytest

from callcenter.services import acd, agent_state, caller_steps, interactions
from callcenter.services.interactions import agent_identity, conference_name
from tests.inbound.conftest import NUMBER
from tests.realtime.conftest import received
from tests.support.servers import wait_until
from workers import ticker

CALLER = "+14155550100"


@pytest.fixture
def on_call(session, factory, console, sim_carrier, redis_client, line, client):
    """Alice is talking to a caller who chose Sales; returns (alice, caller handle, softphone)."""
    alice = factory.user(skills={"sales": 5}, username="alice")
    softphone = sim_carrier.client(agent_identity(alice.id))
    sock = console(alice)
    sock.emit("set_state", {"state": "available"}, namespace="/agent", callback=True)
    caller = sim_carrier.dial(CALLER, NUMBER)
    caller.wait_for_say("For sales")
    caller.press("1")
    offers: list = []
    wait_until(lambda: offers.extend(received(sock, "offer")) or offers, message="the offer")
    sock.emit("offer_ack", {"call_sid": offers[0]["call_sid"]}, namespace="/agent", callback=True)
    softphone.wait_for_incoming()
    softphone.accept()
    room = conference_name(caller.sid)
    wait_until(lambda: (c := sim_carrier.conference(room)) is not None and len(c.active()) == 2,
               message="caller and agent bridged")
    assert client.post("/login", data={"username": "alice", "password": "password123"}).status_code == 302
    return alice, caller, softphone


def test_agent_rejoins_after_the_softphone_leg_drops(on_call, sim_carrier, redis_client, client):
    alice, caller, softphone = on_call
    room = conference_name(caller.sid)

    softphone.hangup()  # the tab reloads: its WebRTC leg is gone

    wait_until(lambda: redis_client.zscore(interactions.ORPHANS, caller.sid) is not None,
               message="the interaction waits for the agent")
    assert caller.status == "in-progress" and len(sim_carrier.conference(room).active()) == 1
    assert agent_state.get_presence(redis_client, alice.id).state == "on_call"

    response = client.post(f"/api/v1/calls/{caller.sid}/rejoin")
    assert response.status_code == 200, response.json
    softphone.wait_for_incoming()
    softphone.accept()

    wait_until(lambda: len(sim_carrier.conference(room).active()) == 2, message="agent back in the conference")
    assert redis_client.zscore(interactions.ORPHANS, caller.sid) is None
    caller.hangup()


def test_caller_is_queued_again_when_the_agent_does_not_come_back(app, on_call, sim_carrier, redis_client):
    alice, caller, softphone = on_call
    softphone.hangup()
    wait_until(lambda: redis_client.zscore(interactions.ORPHANS, caller.sid) is not None,
               message="the interaction waits for the agent")

    ticker.tick(app, time.time() + app.config["AGENT_REJOIN_GRACE_SECONDS"] + 1)

    wait_until(lambda: (e := acd.get_entry(redis_client, caller.sid)) is not None and e.status == "waiting",
               message="the caller back in the queue")
    assert acd.get_entry(redis_client, caller.sid).priority >= caller_steps.REQUEUE_PRIORITY_BOOST
    assert agent_state.get_presence(redis_client, alice.id).state in ("wrap_up", "available")
    assert caller.status == "in-progress"
    caller.hangup()


def test_hang_up_button_ends_the_call_for_everyone(on_call, redis_client, client):
    alice, caller, _softphone = on_call

    response = client.post(f"/api/v1/calls/{caller.sid}/hangup")

    assert response.status_code == 200, response.json
    caller.wait_ended()
    wait_until(lambda: agent_state.get_presence(redis_client, alice.id).state == "wrap_up",
               message="agent in wrap-up")
    assert redis_client.zscore(interactions.ORPHANS, caller.sid) is None


def test_rejoin_is_refused_for_someone_elses_call(on_call, factory, client):
    _alice, caller, _softphone = on_call
    factory.user(skills={"sales": 5}, username="mallory")
    client.post("/logout")
    client.post("/login", data={"username": "mallory", "password": "password123"})
    response = client.post(f"/api/v1/calls/{caller.sid}/rejoin")
    assert response.status_code == 409
    assert response.json["message"]
    caller.hangup()
