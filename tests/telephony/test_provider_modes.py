"""The same provider scenarios on both carriers: the capturing client (Twilio's documented answers, every request
checked against the OpenAPI contract) and the embedded emulator end to end (real `twilio.rest.Client` through
`WsgiHttpClient`). A scenario that passes on both means the product code path is the same in both modes.

What the carrier holds after a step (a participant's flags, a call's parties) is read from the carrier: the
emulator's own state, or, with the capturing client, the requests the provider sent. Never from the capturing
client's answers: it builds them from the request, so asserting them would test the double, not the provider.
What only a real carrier does (a call ending with its conference, a room that does not exist) is checked on the
emulator alone."""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import jwt
import pytest
from twilio.request_validator import RequestValidator
from twilio.twiml.voice_response import Dial, VoiceResponse

from callcenter import create_app
from callcenter.extensions import db
from callcenter.telephony import TelephonyError, get_provider
from callcenter.telephony.base import Provider
from callcenter.telephony.twilio_provider import TwilioProvider
from tests.telephony.test_provider_contract import (
    AGENT_CALL_SID,
    CALL_SID,
    CapturingHttpClient,
    validate_request,
)

ROOM = "interaction-1001"
CUSTOMER = "+14155550123"
SUPERVISOR = "+14155550188"
OUR_NUMBER = "+18005550100"
HOLD_MUSIC_PATH = "/test-hold-music"
CAPTURE_SECRET = "capture-api-key-secret-of-32-bytes"


@dataclass
class World:
    """A provider plus what the scenario needs of the carrier behind it."""

    provider: Provider
    secret: str
    auth_token: str
    carrier: Any = None
    capture: CapturingHttpClient | None = None
    cleanup: list[Any] = field(default_factory=list)

    def call_in_conference(self) -> str:
        """The SID of an answered call that sits in conference ROOM."""
        if self.carrier is None:
            return CALL_SID
        twiml = VoiceResponse()
        dial = Dial()
        dial.conference(ROOM, start_conference_on_enter=True, end_conference_on_exit=False, beep=False)
        twiml.append(dial)
        info = self.provider.place_call(CUSTOMER, OUR_NUMBER, twiml=str(twiml))
        self.carrier.handle(info.sid).wait_for_status("in-progress")
        self.wait_joined(info.sid)
        return info.sid

    def wait_joined(self, call_sid: str, timeout: float = 5.0) -> None:
        """Until the call is a live participant of ROOM (the emulator dials and joins on its own threads)."""
        if self.carrier is None:
            return
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            conference = self.carrier.conference(ROOM)
            if conference is not None and conference.find(call_sid) is not None:
                return
            time.sleep(0.01)
        raise AssertionError(f"{call_sid} never joined {ROOM}; errors: {self.carrier.errors}")

    def wait_ended(self, call_sid: str) -> str:
        if self.carrier is None:
            return "completed"
        return self.carrier.handle(call_sid).wait_ended()

    @property
    def live(self) -> bool:
        """A carrier that acts (the emulator), not one that records (the capturing client)."""
        return self.carrier is not None

    def sent(self, path_suffix: str, method: str = "POST") -> list[dict[str, Any]]:
        """Form bodies (or query parameters of a GET) the provider sent to paths ending with `path_suffix`."""
        assert self.capture is not None
        return [r.data if method != "GET" else r.params for r in self.capture.requests
                if r.method == method and urlsplit(r.url).path.endswith(path_suffix)]

    def participant(self, call_sid: str) -> dict[str, Any]:
        """The participant's flags as the carrier holds them: the emulator's conference, or what was sent."""
        if self.carrier is not None:
            found = self.carrier.conference(ROOM).find(call_sid)
            assert found is not None, f"{call_sid} is not in {ROOM}"
            return {"label": found.label, "muted": found.muted, "hold": found.hold, "coaching": found.coaching}
        flags: dict[str, Any] = {"label": None, "muted": False, "hold": False, "coaching": False}
        bodies = (self.sent("/Participants.json") if call_sid == AGENT_CALL_SID else []) + self.sent(
            f"/Participants/{call_sid}.json")  # the capturing client gives every new participant AGENT_CALL_SID
        for body in bodies:
            for name, key in (("Label", "label"), ("Muted", "muted"), ("Hold", "hold"), ("Coaching", "coaching")):
                if name in body:
                    flags[key] = body[name] if key == "label" else str(body[name]).lower() == "true"
        return flags

    def check_contract(self) -> None:
        if self.capture is not None:
            for request in self.capture.requests:
                validate_request(request)


@pytest.fixture(params=["capture", "emulator"])
def world(request, tmp_path, redis_server) -> Iterator[World]:
    if request.param == "capture":
        capture = CapturingHttpClient()
        provider = TwilioProvider(account_sid="AC" + "c" * 32, auth_token="capture-token", api_key="SK" + "1" * 32,
                                  api_secret=CAPTURE_SECRET, twiml_app_sid="AP" + "2" * 32, http_client=capture)
        built = World(provider, secret=CAPTURE_SECRET, auth_token="capture-token", capture=capture)
        yield built
        built.check_contract()
        return
    database = tmp_path / "callcenter.sqlite"
    shutil.copy(request.getfixturevalue("sqlite_template"), database)
    redis_server.client.flushall()
    app = create_app({
        "TESTING": True, "INSTANCE_PATH": str(tmp_path / "instance"), "SECRET_KEY": "modes-secret",
        "DATABASE_URL": f"sqlite:///{database}", "REDIS_URL": redis_server.url, "SOCKETIO_MESSAGE_QUEUE": False,
        "WTF_CSRF_ENABLED": False, "PUBLIC_BASE_URL": "http://localhost", "SERVER_NAME": "localhost",
        "TELEPHONY_PROVIDER": "sim", "SIM_TRANSPORT": "wsgi", "SIM_SPEED": 50,
    })
    from callcenter.telephony.sim import get_carrier

    app.add_url_rule(HOLD_MUSIC_PATH, "test_hold_music", lambda: (
        "<Response><Say>Please hold.</Say><Pause length=\"30\"/></Response>", 200, {"Content-Type": "text/xml"}))

    carrier = get_carrier(app)
    for number in (CUSTOMER, SUPERVISOR):
        carrier.phone(number, answer="auto", ring_seconds=0.5)
    token = app.config["SIM_AUTH_TOKEN"]
    with app.app_context():
        yield World(get_provider(app), secret=token, auth_token=token, carrier=carrier)
        carrier.shutdown()
        db.session.remove()
    db.engine.dispose()
    assert carrier.errors == []


def test_place_call_returns_the_new_call(world):
    info = world.provider.place_call(CUSTOMER, OUR_NUMBER, twiml="<Response><Say>Hello</Say></Response>",
                                     status_callback=None, timeout=20)
    assert info.sid.startswith("CA") and len(info.sid) == 34
    assert world.provider.get_call(info.sid).sid == info.sid
    if not world.live:
        [sent] = world.sent("/Calls.json")
        assert (sent["To"], sent["From"], sent["Timeout"]) == (CUSTOMER, OUR_NUMBER, 20)
        assert "StatusCallback" not in sent
        return
    assert info.status in ("queued", "initiated", "ringing", "in-progress")
    assert (info.to_number, info.from_number, info.direction) == (CUSTOMER, OUR_NUMBER, "outbound-api")
    call = world.carrier.calls[info.sid]
    assert (call.to, call.from_) == (CUSTOMER, OUR_NUMBER)


def test_redirect_then_end_a_live_call(world):
    sid = world.call_in_conference()
    assert world.provider.redirect_call(sid, twiml="<Response><Say>Please hold</Say><Pause length=\"5\"/>"
                                                   "</Response>").sid == sid
    assert world.provider.end_call(sid).sid == sid
    if world.live:
        assert world.wait_ended(sid) == "completed"
    else:
        assert world.sent(f"/Calls/{sid}.json") == [
            {"Twiml": "<Response><Say>Please hold</Say><Pause length=\"5\"/></Response>"}, {"Status": "completed"}]


def test_unknown_call_is_a_telephony_error(world):
    missing = "CA" + "0" * 32
    with pytest.raises(TelephonyError) as error:
        world.provider.end_call(missing)
    assert error.value.status == 404
    assert missing in str(error.value)


def test_conference_participant_modes(world):
    customer = world.call_in_conference()
    room = world.provider.find_conference(ROOM)
    assert room is not None and room.friendly_name == ROOM and room.sid.startswith("CF")
    if world.live:
        assert room.status in ("init", "in-progress")
    else:
        sent = world.sent("/Conferences.json", method="GET")[0]
        assert (sent["FriendlyName"], sent["Status"]) == (ROOM, "in-progress")

    supervisor = world.provider.add_participant(ROOM, from_=OUR_NUMBER, to=SUPERVISOR, label="supervisor",
                                                muted=True, beep=False)
    assert supervisor.conference_sid == room.sid
    world.wait_joined(supervisor.call_sid)
    assert world.participant(supervisor.call_sid) == {"label": "supervisor", "muted": True, "hold": False,
                                                      "coaching": False}

    world.provider.hold_participant(room.sid, customer, hold_url=f"http://localhost{HOLD_MUSIC_PATH}")
    assert world.participant(customer)["hold"] is True
    world.provider.hold_participant(room.sid, customer, hold=False)
    assert world.participant(customer)["hold"] is False
    world.provider.mute_participant(room.sid, customer, True)
    assert world.participant(customer)["muted"] is True
    world.provider.mute_participant(room.sid, customer, False)
    assert world.participant(customer) == {"label": world.participant(customer)["label"], "muted": False,
                                           "hold": False, "coaching": False}

    coaching = world.provider.coach_participant(room.sid, supervisor.call_sid, customer)
    assert coaching.call_sid == supervisor.call_sid and world.participant(supervisor.call_sid)["coaching"] is True
    world.provider.coach_participant(room.sid, supervisor.call_sid, None)
    assert world.participant(supervisor.call_sid)["coaching"] is False
    if world.live:
        assert world.carrier.conference(ROOM).find(supervisor.call_sid).call_sid_to_coach in (None, customer)
    else:
        assert world.sent(f"/Participants/{supervisor.call_sid}.json")[-2]["CallSidToCoach"] == customer

    world.provider.remove_participant(room.sid, supervisor.call_sid)
    world.provider.end_conference(room.sid)
    if world.live:
        assert world.wait_ended(customer) == "completed"
    else:
        assert world.sent(f"/Conferences/{room.sid}.json") == [{"Status": "completed"}]
        assert len(world.sent(f"/Participants/{supervisor.call_sid}.json", method="DELETE")) == 1


def test_find_conference_that_does_not_exist(world):
    found = world.provider.find_conference("no-such-room")
    if world.live:  # only a real carrier knows which rooms exist; the capturing client's answer is made up
        assert found is None
    else:
        assert [q["FriendlyName"] for q in world.sent("/Conferences.json", method="GET")] == ["no-such-room"] * 2


def test_access_token_lets_the_agent_receive_and_place_calls(world):
    token = world.provider.create_access_token("agent-7", ttl=600)
    claims = jwt.decode(token, world.secret, algorithms=["HS256"], options={"verify_aud": False})
    assert claims["sub"] == world.provider.account_sid
    assert claims["iss"].startswith("SK")
    assert 599 <= claims["exp"] - claims["nbf"] <= 600
    voice = claims["grants"]["voice"]
    assert claims["grants"]["identity"] == "agent-7"
    assert voice["incoming"] == {"allow": True}
    assert voice["outgoing"]["application_sid"].startswith("AP")


def test_webhook_signatures_use_the_carrier_auth_token(world):
    url = "http://localhost/ivr/status"
    params = {"CallSid": AGENT_CALL_SID, "CallStatus": "ringing"}
    good = RequestValidator(world.auth_token).compute_signature(url, params)
    assert world.provider.validate_webhook(url, params, good)
    assert not world.provider.validate_webhook(url, {**params, "CallStatus": "completed"}, good)
    assert not world.provider.validate_webhook(url, params, "")



# ---- 'auto' falls back to the emulator only for a one-machine demo ----

ONE_MACHINE = {"DATABASE_URL": "sqlite:////srv/cc/callcenter.sqlite", "REDIS_URL": "unix:///srv/cc/redis.sock",
               "HOST": "127.0.0.1", "PUBLIC_BASE_URL": "http://127.0.0.1:5000"}


@pytest.mark.parametrize("change", [
    {"DATABASE_URL": "postgresql+psycopg://cc@db.internal/cc"},
    {"REDIS_URL": "redis://cache.internal:6379/0"},
    {"HOST": "0.0.0.0"},
    {"PUBLIC_BASE_URL": "https://cc.example.com"},
])
def test_the_emulator_is_never_a_silent_fallback_in_production(change):
    from callcenter.settings import SettingsError
    from callcenter.telephony import provider_mode

    with pytest.raises(SettingsError, match="TELEPHONY_PROVIDER=sim"):
        provider_mode({**ONE_MACHINE, **change})
    assert provider_mode({**ONE_MACHINE, **change, "TELEPHONY_PROVIDER": "sim"}) == "sim"
    twilio = {"TWILIO_ACCOUNT_SID": "AC" + "1" * 32, "TWILIO_AUTH_TOKEN": "token"}
    assert provider_mode({**ONE_MACHINE, **change, **twilio}) == "twilio"
    assert provider_mode(ONE_MACHINE) == "sim"


def test_an_app_on_a_public_host_without_twilio_refuses_to_start(app_config):
    from callcenter.settings import SettingsError

    with pytest.raises(SettingsError, match=r"HOST=0\.0\.0\.0"):
        create_app({**app_config, "TELEPHONY_PROVIDER": "auto", "HOST": "0.0.0.0"})
