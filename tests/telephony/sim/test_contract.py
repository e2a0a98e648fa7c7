"""Contract: every REST answer of the emulator validates against Twilio's OpenAPI response schema.

The emulator is driven by the real `twilio.rest.Client`, whose HTTP goes in-process to the `/sim` blueprint
through `WsgiHttpClient`; every exchange is captured and checked against its operation's response schema.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from openapi_schema_validator import OAS30Validator
from twilio.base.exceptions import TwilioRestException
from twilio.rest import Client

from callcenter.telephony.sim.wsgi_http import WsgiHttpClient
from tests.support.contracts import TWILIO_OAI
from tests.telephony.sim.conftest import CALLER, Sim

SPEC_PATH = TWILIO_OAI


class RecordingHttpClient(WsgiHttpClient):
    """Keeps every exchange for the contract check."""

    def __init__(self, app) -> None:
        super().__init__(app)
        self.exchanges: list[tuple[str, str, int, str]] = []

    def request(self, method, url, params=None, data=None, headers=None, auth=None, timeout=None,
                allow_redirects=False):
        response = super().request(method, url, params, data, headers, auth, timeout, allow_redirects)
        self.exchanges.append((method.upper(), url, response.status_code, response.text))
        return response


@pytest.fixture(scope="module")
def spec() -> dict[str, Any]:
    return json.loads(SPEC_PATH.read_text())


def operation_schema(spec: dict[str, Any], method: str, url: str, status: int) -> dict[str, Any] | None:
    path = re.sub(r"^https?://[^/]+/sim", "", url).split("?")[0]
    for template, item in spec["paths"].items():
        pattern = "^" + re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(template)) + "$"
        if re.match(pattern, path):
            operation = item[method.lower()]
            response = operation["responses"][str(status)]
            content = response.get("content")
            if content is None:
                return None
            return {**content["application/json"]["schema"], "components": spec["components"]}
    raise AssertionError(f"no operation in Twilio's OpenAPI for {method} {path}")


def doc(body: str) -> str:
    return f"<Response>{body}</Response>"


def test_every_rest_answer_matches_twilios_openapi(sim: Sim, spec: dict[str, Any]) -> None:
    http = RecordingHttpClient(sim.app)
    client = Client(sim.carrier.account_sid, sim.carrier.auth_token, http_client=http)
    client.api.base_url = "http://localhost/sim"
    account = client.api.v2010.accounts(sim.carrier.account_sid)
    sim.server.route("/voice", doc('<Dial><Conference waitUrl="">contract-room</Conference></Dial>'))
    number = sim.number("/voice")
    agent = sim.carrier.client("agent_1")
    sim.carrier.phone("+15105550100")

    created = account.calls.create(to="client:agent_1", from_=number, twiml=doc('<Pause length="60"/>'),
                                   status_callback=sim.server.url("/status"),
                                   status_callback_event=["initiated", "ringing", "answered", "completed"])
    assert created.status == "queued" and created.direction == "outbound-api"
    agent.accept()
    assert account.calls(created.sid).fetch().status == "in-progress"
    assert [c.sid for c in account.calls.list(to="client:agent_1", limit=5)] == [created.sid]
    account.calls(created.sid).update(twiml=doc('<Say>Moved</Say><Pause length="60"/>'))
    agent.current.wait_for_say("Moved")

    caller = sim.carrier.dial(CALLER, number)
    caller.wait_for("conference")
    conference, = account.conferences.list(friendly_name="contract-room", status="in-progress", limit=1)
    assert account.conferences(conference.sid).fetch().friendly_name == "contract-room"
    supervisor = sim.carrier.client("supervisor_1")
    participant = account.conferences(conference.sid).participants.create(
        from_=number, to="client:supervisor_1", label="supervisor", early_media=True, beep="false",
        start_conference_on_enter=True, end_conference_on_exit=False, muted=False,
        status_callback=sim.server.url("/participant"), status_callback_event=["answered", "completed"])
    assert participant.status == "queued" and participant.label == "supervisor"
    supervisor.accept()
    supervisor.current.wait_for("conference")
    participants = account.conferences(conference.sid).participants.list()
    assert {p.label for p in participants} == {None, "supervisor"}
    fetched = account.conferences(conference.sid).participants("supervisor").fetch()
    assert fetched.call_sid == participant.call_sid and fetched.status == "connected"
    account.conferences(conference.sid).participants(caller.sid).update(hold=True, hold_url="http://x/m.mp3")
    held = account.conferences(conference.sid).participants(caller.sid).update(hold=False, muted=True)
    assert held.hold is False and held.muted is True
    coaching = account.conferences(conference.sid).participants("supervisor").update(
        coaching=True, call_sid_to_coach=caller.sid)
    assert coaching.coaching is True and coaching.call_sid_to_coach == caller.sid
    assert account.conferences(conference.sid).participants("supervisor").delete() is True
    ended = account.conferences(conference.sid).update(status="completed")
    assert ended.status == "completed" and ended.reason_conference_ended == "conference-ended-via-api"
    assert account.calls(created.sid).update(status="completed").status == "completed"

    with pytest.raises(TwilioRestException) as missing:
        account.calls("CA" + "0" * 32).fetch()
    assert missing.value.status == 404 and missing.value.code == 20404
    with pytest.raises(TwilioRestException) as invalid:
        account.calls.create(to="+15105550100", from_=number)
    assert invalid.value.status == 400 and invalid.value.code == 21205

    validated = 0
    for method, url, status, body in http.exchanges:
        if status >= 400:
            error = json.loads(body)
            assert set(error) == {"code", "message", "more_info", "status"} and error["status"] == status
            continue
        schema = operation_schema(spec, method, url, status)
        if schema is None:
            assert body == ""  # 204
            continue
        OAS30Validator(schema).validate(json.loads(body))
        validated += 1
    assert validated >= 14


def test_rest_requires_the_account_credentials(sim: Sim) -> None:
    client = Client(sim.carrier.account_sid, "wrong-token", http_client=WsgiHttpClient(sim.app))
    client.api.base_url = "http://localhost/sim"
    with pytest.raises(TwilioRestException) as refused:
        client.api.v2010.accounts(sim.carrier.account_sid).calls("CA" + "0" * 32).fetch()
    assert refused.value.status == 401 and refused.value.code == 20003
    raw = sim.app.test_client().get(f"/sim/2010-04-01/Accounts/{sim.carrier.account_sid}/Calls.json")
    assert raw.status_code == 401 and raw.json["code"] == 20003 and "more_info" in raw.json
