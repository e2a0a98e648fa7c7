"""The emulator inside the product app: settings, numbers, pages, the softphone socket and the provider."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

from flask import Flask

from callcenter.extensions import socketio
from callcenter.telephony import get_provider
from callcenter.telephony.sim import get_carrier
from callcenter.telephony.sim.engine import Carrier
from callcenter.telephony.tokens import voice_token

STATIC = Path(__file__).resolve().parents[3] / "callcenter" / "telephony" / "sim" / "static"
VENDOR = Path(__file__).resolve().parents[3] / "agent_ui" / "static" / "vendor"


def received(test_client, name: str, timeout: float = 5.0) -> dict:
    """The next `name` event the socket received (events are pushed from call threads)."""
    deadline = time.monotonic() + timeout
    seen = []
    while time.monotonic() < deadline:
        for packet in test_client.get_received("/sim"):
            seen.append(packet)
            if packet["name"] == name:
                return packet["args"][0]
        time.sleep(0.02)
    raise AssertionError(f"no {name!r} event; got {[p['name'] for p in seen]}")


def test_init_app_builds_the_carrier_from_settings(app: Flask, sim_carrier: Carrier) -> None:
    assert sim_carrier.account_sid == app.config["SIM_ACCOUNT_SID"]
    assert sim_carrier.auth_token == app.config["SIM_AUTH_TOKEN"]
    assert sim_carrier.speed == app.config["SIM_SPEED"]
    for number in app.config["SIM_PHONE_NUMBERS"]:
        assert sim_carrier.numbers[number].voice_url == "http://localhost/ivr/voice"
        assert sim_carrier.numbers[number].status_callback == "http://localhost/ivr/status"
    client = app.test_client()
    page = client.get("/sim/caller")
    assert page.status_code == 200 and app.config["SIM_PHONE_NUMBERS"][0] in page.get_data(as_text=True)
    assert client.get("/sim/static/twilio-sim.js").status_code == 200
    assert client.get("/sim/static/socket.io.min.js").status_code == 200


def test_softphone_registers_rings_accepts_and_hears(app: Flask, sim_carrier: Carrier) -> None:
    provider = get_provider(app)
    softphone = socketio.test_client(app, namespace="/sim")
    answer = softphone.emit("register", {"token": provider.create_access_token("agent_7")}, namespace="/sim",
                            callback=True)
    assert answer["ok"] is True and answer["identity"] == "agent_7"
    assert sim_carrier.is_registered("agent_7")

    info = provider.place_call(to="client:agent_7", from_=app.config["SIM_PHONE_NUMBERS"][0],
                               twiml="<Response><Say>Hello agent</Say><Pause length=\"30\"/></Response>")
    assert info.status == "queued"
    incoming = received(softphone, "incoming")
    assert incoming["call_sid"] == info.sid and incoming["parameters"]["To"] == "client:agent_7"
    assert softphone.emit("accept", {"call_sid": info.sid}, namespace="/sim", callback=True)["ok"] is True
    deadline = time.monotonic() + 5
    said = None
    while said is None and time.monotonic() < deadline:
        for packet in softphone.get_received("/sim"):
            event = packet["args"][0].get("event", {})
            if event.get("type") == "say":
                said = event["text"]
        time.sleep(0.02)
    assert said == "Hello agent"
    assert provider.get_call(info.sid).status == "in-progress"
    softphone.emit("hangup", {"call_sid": info.sid}, namespace="/sim")
    sim_carrier.handle(info.sid).wait_ended()
    assert provider.get_call(info.sid).status == "completed"
    softphone.disconnect(namespace="/sim")
    assert not sim_carrier.is_registered("agent_7")


def test_register_refuses_bad_and_expired_tokens(app: Flask, sim_carrier: Carrier) -> None:
    softphone = socketio.test_client(app, namespace="/sim")
    bad = voice_token(account_sid=sim_carrier.account_sid, api_key="SK" + "1" * 32, api_secret="not-the-token",
                      identity="agent_1", outgoing_application_sid=None)
    answer = softphone.emit("register", {"token": bad}, namespace="/sim", callback=True)
    assert answer == {"ok": False, "code": 20101, "message": answer["message"]}
    from twilio.jwt.access_token import AccessToken
    from twilio.jwt.access_token.grants import VoiceGrant

    token = AccessToken(sim_carrier.account_sid, "SK" + "1" * 32, sim_carrier.auth_token, identity="agent_1",
                        ttl=1, nbf=int(time.time()) - 100)
    token.add_grant(VoiceGrant(incoming_allow=True))
    expired = token.to_jwt(ttl=-60)
    answer = softphone.emit("register", {"token": expired}, namespace="/sim", callback=True)
    assert answer["ok"] is False and answer["code"] == 20104


def test_caller_page_socket_dials_a_number(app: Flask, sim_carrier: Carrier) -> None:
    sim_carrier.add_number("+18005550155", "http://localhost/sim-missing-voice-url")
    phone = socketio.test_client(app, namespace="/sim")
    answer = phone.emit("caller_dial", {"from": "+14155550100", "to": "+18005550155"}, namespace="/sim",
                        callback=True)
    assert answer["ok"] is True
    handle = sim_carrier.handle(answer["call_sid"])
    handle.wait_ended()
    assert handle.transcript == ["We are sorry, an application error has occurred. Goodbye."]
    assert sim_carrier.errors and sim_carrier.errors[0].url == "http://localhost/sim-missing-voice-url"
    sim_carrier.errors.clear()
    refused = phone.emit("caller_dial", {"from": "+14155550100", "to": "+19995550000"}, namespace="/sim",
                         callback=True)
    assert refused["ok"] is False and "not a number of this carrier" in refused["message"]


def test_javascript_has_no_syntax_errors() -> None:
    for path in (STATIC / "twilio-sim.js", STATIC / "caller.js", STATIC / "socket.io.min.js",
                 VENDOR / "twilio-voice.min.js"):
        result = subprocess.run(["node", "--check", str(path)], capture_output=True, text=True, check=False)
        assert result.returncode == 0, f"{path.name}: {result.stderr}"
    assert (VENDOR / "twilio-voice.LICENSE.md").exists() and (STATIC / "socket.io.LICENSE").exists()
    assert get_carrier  # the public helper stays importable
