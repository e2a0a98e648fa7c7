"""A completed warm transfer moves the call to the second agent in the ACD; the first wraps up."""

from __future__ import annotations

import pytest

from callcenter.models import Queue, QueueSkill
from callcenter.services import agent_state, routing
from callcenter.services.auth import get_or_create_skill
from callcenter.services.errors import Conflict

SID = "CA" + "8" * 32


@pytest.fixture
def connected(app, session, factory):
    r = app.extensions["callcenter.redis"]
    queue = Queue(name="Support", wrap_up_seconds=30)
    queue.skills = [QueueSkill(skill=get_or_create_skill(session, "support"), min_level=1)]
    session.add(queue)
    session.commit()
    alice, bob = factory.user(skills={"support": 5}), factory.user(skills={"support": 5})
    agent_state.login(session, r, alice.id, now=1000)
    routing.enqueue_call(session, r, call_sid=SID, queue_id=queue.id, from_number="+14155550100", now=1001)
    routing.accept_offer(session, r, alice.id, SID, now=1002)
    agent_state.login(session, r, bob.id, now=1003, state="away", reason="consult")
    return r, alice, bob


def test_transfer_gives_the_call_to_the_second_agent(session, connected):
    r, alice, bob = connected

    routing.transfer_call(session, r, SID, alice.id, bob.id, now=1010)

    assert (agent_state.get_presence(r, bob.id).state, agent_state.get_presence(r, bob.id).current_call) == (
        "on_call", SID)
    first = agent_state.get_presence(r, alice.id)
    assert (first.state, first.wrap_up_until) == ("wrap_up", 1040)
    finished = routing.finish_call(session, r, SID, now=1100)
    assert (finished.agent_id, finished.agent_state) == (bob.id, "wrap_up")


def test_transfer_refuses_a_busy_target_and_a_wrong_owner(session, connected):
    r, alice, bob = connected
    with pytest.raises(Conflict):
        routing.transfer_call(session, r, SID, bob.id, alice.id, now=1010)  # bob does not have the call
    agent_state.change_state(session, r, bob.id, "offline", now=1011)
    with pytest.raises(Conflict):
        routing.transfer_call(session, r, SID, alice.id, bob.id, now=1012)
    assert agent_state.get_presence(r, alice.id).state == "on_call"
