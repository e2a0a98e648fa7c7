"""Every /sim event checks its payload's types: a bad one is answered with an error acknowledgement naming the
field (Voice SDK style), never an exception inside the handler."""

from __future__ import annotations

import pytest

from callcenter.extensions import socketio

NOT_AN_OBJECT = [["a", "list"], "a string", 42]

SIM_EVENTS = {
    "register": [{"token": ["x"]}, {"token": {"a": 1}}],
    "update_token": [{"token": 7}],
    "unregister": [],
    "accept": [{"call_sid": ["CA1"]}, {"call_sid": {"a": 1}}],
    "reject": [{"call_sid": 1.5}],
    "hangup": [{"call_sid": ["CA1"]}],
    "digits": [{"call_sid": "CA1", "digits": ["1"]}, {"call_sid": "CA1", "digits": 12}],
    "speak": [{"call_sid": "CA1", "text": {"a": 1}}, {"call_sid": "CA1", "text": "hi\x00"}],
    "mute": [{"call_sid": "CA1", "muted": "yes"}],
    "client_call": [{"params": ["To", "+1"]}, {"params": "To=+1"}],
    "numbers": [],
    "caller_dial": [{"from": ["+14155550100"], "to": "+18005550100"}, {"from": "+14155550100", "to": 18005550100}],
}


@pytest.mark.parametrize("event", sorted(SIM_EVENTS))
def test_sim_events_answer_bad_payloads_with_an_error(event, app, sim_carrier):
    phone = socketio.test_client(app, namespace="/sim")
    for payload in [*NOT_AN_OBJECT, *SIM_EVENTS[event]]:
        answer = phone.emit(event, payload, namespace="/sim", callback=True)
        assert answer["ok"] is False and answer["message"], (event, payload, answer)
        if isinstance(payload, dict):
            assert answer["field"] in payload, (event, payload, answer)
    assert phone.emit("numbers", {}, namespace="/sim", callback=True)["ok"] is True
    phone.disconnect(namespace="/sim")
