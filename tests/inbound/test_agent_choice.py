"""Which agent gets the call, through the emulated carrier: skills first, then the caller's last agent, then the
agent idle longest."""

from __future__ import annotations

import time

from callcenter.services import agent_state
from tests.inbound.conftest import NUMBER
from tests.inbound.test_inbound_calls import _available, _wait_for_event
from tests.realtime.conftest import received
from tests.support.servers import wait_until


def _call_billing(sim_carrier, number: str):
    caller = sim_carrier.dial(number, NUMBER)
    caller.wait_for_say("For billing")
    caller.press("3")
    return caller


def test_only_an_agent_with_the_queue_skill_is_offered_the_call(factory, console, sim_carrier, redis_client,
                                                                line):
    sales_only = _available(console, factory.user(skills={"sales": 9}, username="sally"))
    erin = factory.user(skills={"billing": 4}, username="erin")
    billing = _available(console, erin)

    caller = _call_billing(sim_carrier, "+14155550201")

    [offer] = _wait_for_event(billing, "offer")
    assert offer["agent_id"] == erin.id
    assert received(sales_only, "offer") == []
    caller.hangup()


def test_the_agent_idle_longest_is_offered_the_call(factory, console, sim_carrier, redis_client, line):
    first = factory.user(skills={"billing": 5}, username="first")
    second = factory.user(skills={"billing": 5}, username="second")
    first_sock = _available(console, first)
    wait_until(lambda: agent_state.get_presence(redis_client, first.id).idle_since is not None, message="idle")
    time.sleep(0.05)
    second_sock = _available(console, second)

    caller = _call_billing(sim_carrier, "+14155550202")

    [offer] = _wait_for_event(first_sock, "offer")
    assert offer["agent_id"] == first.id
    assert received(second_sock, "offer") == []
    caller.hangup()


def test_a_returning_caller_gets_their_last_agent(factory, console, sim_carrier, redis_client, line):
    long_idle = factory.user(skills={"billing": 5}, username="longidle")
    bob = factory.user(skills={"billing": 5}, username="bob")
    factory.call(from_number="+14155550203", agent_id=bob.id, status="completed", queue_id=line["Billing"].id)
    idle_sock = _available(console, long_idle)
    time.sleep(0.05)
    bob_sock = _available(console, bob)

    caller = _call_billing(sim_carrier, "+14155550203")

    [offer] = _wait_for_event(bob_sock, "offer")
    assert offer["agent_id"] == bob.id  # sticky, though the other agent has been idle longer
    assert received(idle_sock, "offer") == []
    caller.hangup()
