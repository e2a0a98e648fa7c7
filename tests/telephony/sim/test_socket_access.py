"""The emulator's `/sim` socket acts only on calls bound to it: a softphone on calls ringing (or taken by) its
registered identity, a caller page on calls it dialled. Without that, any socket could answer, listen to or hang
up anybody's call by its SID."""

from __future__ import annotations

import time

import pytest
from flask import Flask

from callcenter.extensions import socketio
from callcenter.telephony import get_provider
from callcenter.telephony.sim.engine import Carrier

LONG_CALL = '<Response><Say>Private words</Say><Pause length="60"/></Response>'
LINE = "+18005550177"


def _socket(app: Flask, **kwargs):
    return socketio.test_client(app, namespace="/sim", **kwargs)


def _ask(client, event: str, **data):
    return client.emit(event, data, namespace="/sim", callback=True)


def _registered(app: Flask, identity: str):
    client = _socket(app)
    assert _ask(client, "register", token=get_provider(app).create_access_token(identity))["ok"] is True
    return client


def _call_events(client, call_sid: str) -> list[dict]:
    return [p["args"][0] for p in client.get_received("/sim")
            if p["args"] and isinstance(p["args"][0], dict) and p["args"][0].get("call_sid") == call_sid]


def _wait(predicate, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


@pytest.fixture
def line(app: Flask, sim_carrier: Carrier) -> str:
    """One of our numbers whose voice URL keeps the caller on the line for a minute."""
    app.add_url_rule("/test-long-call", "test_long_call", lambda: (LONG_CALL, 200, {"Content-Type": "text/xml"}),
                     methods=["GET", "POST"])
    sim_carrier.add_number(LINE, "http://localhost/test-long-call")
    return LINE


def test_a_softphone_cannot_take_listen_to_or_end_another_identitys_call(app: Flask, sim_carrier: Carrier) -> None:
    owner, intruder = _registered(app, "agent_1"), _registered(app, "agent_2")
    info = get_provider(app).place_call(to="client:agent_1", from_="+18005550100", twiml=LONG_CALL)
    _wait(lambda: any(p["name"] == "incoming" for p in owner.get_received("/sim")))
    call = sim_carrier.handle(info.sid)

    for event, extra in (("accept", {}), ("reject", {}), ("hangup", {}), ("digits", {"digits": "1"}),
                         ("speak", {"text": "hello"}), ("mute", {"muted": True})):
        answer = _ask(intruder, event, call_sid=info.sid, **extra)
        assert answer["ok"] is False, (event, answer)
    assert call.status == "ringing"

    assert _ask(owner, "accept", call_sid=info.sid)["ok"] is True
    call.wait_for_status("in-progress")
    _wait(lambda: any(e.get("event", {}).get("type") == "say" for e in _call_events(owner, info.sid)))
    for event, extra in (("accept", {}), ("hangup", {}), ("digits", {"digits": "1"}), ("mute", {"muted": True})):
        assert _ask(intruder, event, call_sid=info.sid, **extra)["ok"] is False, event
    assert _call_events(intruder, info.sid) == []  # heard nothing of the call
    assert call.status == "in-progress"
    assert _ask(owner, "hangup", call_sid=info.sid)["ok"] is True
    assert call.wait_ended() == "completed"


def test_a_caller_page_acts_only_on_the_calls_it_dialled(app: Flask, sim_carrier: Carrier, line: str) -> None:
    caller, stranger = _socket(app), _socket(app)
    dialled = _ask(caller, "caller_dial", **{"from": "+14155550123", "to": line})
    assert dialled["ok"] is True
    call = sim_carrier.handle(dialled["call_sid"])
    call.wait_for_status("in-progress")
    for event, extra in (("hangup", {}), ("digits", {"digits": "9"}), ("speak", {"text": "hi"}),
                         ("accept", {}), ("reject", {})):
        assert _ask(stranger, event, call_sid=dialled["call_sid"], **extra)["ok"] is False, event
    assert call.status == "in-progress"
    stranger.disconnect(namespace="/sim")
    assert call.status == "in-progress"
    assert _ask(caller, "digits", call_sid=dialled["call_sid"], digits="1")["ok"] is True
    assert _ask(caller, "hangup", call_sid=dialled["call_sid"])["ok"] is True
    assert call.wait_ended() == "completed"


@pytest.fixture
def exposed(app_config):
    """The product listening on every interface, with the emulator chosen on purpose."""
    app_config.update(HOST="0.0.0.0", TELEPHONY_PROVIDER="sim")
    return app_config


def test_on_a_public_host_the_caller_page_needs_a_sign_in(exposed, request) -> None:
    app: Flask = request.getfixturevalue("app")
    client = app.test_client()
    page = client.get("/sim/caller")
    assert page.status_code == 302 and page.headers["Location"].startswith("/login")
    texts = client.get("/sim/texts?to=%2B14155550123")  # what the caller page's phone received: closed alike
    assert texts.status_code == 302 and texts.headers["Location"].startswith("/login")
    anonymous = _socket(app)
    refused = _ask(anonymous, "caller_dial", **{"from": "+14155550123", "to": "+18005550100"})
    assert refused["ok"] is False and "sign in" in refused["message"]
    assert request.getfixturevalue("sim_carrier").find_calls(direction="inbound") == []

    request.getfixturevalue("factory").user("agent", username="tester")
    assert client.post("/login", data={"username": "tester", "password": "password123"}).status_code == 302
    assert client.get("/sim/caller").status_code == 200
    signed_in = _socket(app, flask_test_client=client)
    assert _ask(signed_in, "numbers")["ok"] is True
