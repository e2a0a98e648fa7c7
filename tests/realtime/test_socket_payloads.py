"""Every Socket.IO event checks its payload's types: a list, a number or an object where a string belongs, or a
NUL, is answered with an error acknowledgement naming the field, never an exception inside the handler."""

from __future__ import annotations

import pytest

NOT_AN_OBJECT = [["a", "list"], "a string", 42]

AGENT_EVENTS = {
    "set_state": [{"state": 5}, {"state": {"x": 1}}, {"state": "away", "reason": ["meeting"]},
                  {"state": "away", "reason": {"why": 1}}, {"state": "away", "reason": "lunch\x00"}],
    "offer_ack": [{"call_sid": ["CA1"]}, {"call_sid": {"$ne": 1}}, {"call_sid": 12}, {"call_sid": "CA\x00"}],
    "offer_reject": [{"call_sid": ["CA1"]}, {"call_sid": None}, {"call_sid": True}],
    "heartbeat": [{"nonce": {"a": 1}}, {"nonce": [1]}],
    "snapshot": [],
}


@pytest.mark.parametrize("event", sorted(AGENT_EVENTS))
def test_agent_events_answer_bad_payloads_with_an_error(event, console, factory):
    sock = console(factory.user(skills={"support": 3}))
    for payload in [*NOT_AN_OBJECT, *AGENT_EVENTS[event]]:
        answer = sock.emit(event, payload, namespace="/agent", callback=True)
        assert answer["ok"] is False and answer["error"], (event, payload, answer)
        if isinstance(payload, dict):
            assert answer["field"] in payload, (event, payload, answer)
    assert sock.emit("snapshot", {}, namespace="/agent", callback=True)["ok"] is True  # still connected, still served


def test_supervisor_events_answer_bad_payloads_with_an_error(console, factory):
    sock = console(factory.user(role="supervisor"), namespace="/supervisor")
    for payload in NOT_AN_OBJECT:
        answer = sock.emit("snapshot", payload, namespace="/supervisor", callback=True)
        assert answer["ok"] is False, answer
