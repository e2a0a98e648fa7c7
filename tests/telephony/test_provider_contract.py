"""Every REST request TwilioProvider makes conforms to Twilio's published OpenAPI description.

Requests are captured at the SDK's HTTP client (the real `twilio.rest.Client` builds them) and checked against
the operation they address: path template and path parameter patterns, query parameters, required form fields,
form field names, and their types and enum values.
"""

from __future__ import annotations

import copy
import functools
import json
import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import pytest
from openapi_schema_validator import OAS30Validator
from twilio.http import HttpClient
from twilio.http.response import Response

from callcenter.telephony.twilio_provider import TwilioProvider
from tests.support.contracts import TWILIO_OAI

OAI_PATH = TWILIO_OAI
ACCOUNT_SID = "AC" + "c" * 32
CALL_SID = "CA" + "d" * 32
AGENT_CALL_SID = "CA" + "e" * 32
CONFERENCE_SID = "CF" + "f" * 32
MESSAGE_SID = "SM" + "a" * 32
MISSING_SID = "CA" + "0" * 32  # the capturing carrier answers 404 for it, as Twilio does for an unknown call


@functools.cache
def oai() -> dict[str, Any]:
    return json.loads(OAI_PATH.read_text())


def deref(schema: Any, depth: int = 0) -> Any:
    """Inline local `$ref`s (the document only uses '#/components/...')."""
    if depth > 20:
        return schema
    if isinstance(schema, dict):
        if "$ref" in schema:
            target: Any = oai()
            for part in schema["$ref"].lstrip("#/").split("/"):
                target = target[part]
            return deref(copy.deepcopy(target), depth + 1)
        return {key: deref(value, depth + 1) for key, value in schema.items()}
    if isinstance(schema, list):
        return [deref(item, depth + 1) for item in schema]
    return schema


@dataclass
class Operation:
    template: str
    method: str
    spec: dict[str, Any]
    path_params: dict[str, str] = field(default_factory=dict)

    def parameters(self, where: str) -> dict[str, dict[str, Any]]:
        return {p["name"]: deref(p["schema"]) for p in self.spec.get("parameters", []) if p["in"] == where}

    def form_schema(self) -> dict[str, Any] | None:
        body = self.spec.get("requestBody", {}).get("content", {})
        form = body.get("application/x-www-form-urlencoded")
        return deref(form["schema"]) if form else None

    def example_response(self) -> tuple[int, dict[str, Any] | None]:
        status = sorted(self.spec["responses"])[0]
        content = self.spec["responses"][status].get("content", {}).get("application/json")
        if not content:
            return int(status), None
        examples = [example["value"] for example in content.get("examples", {}).values()]
        richest = max(examples, key=lambda value: len(json.dumps(value)), default={})  # a list page with rows
        return int(status), copy.deepcopy(richest)


def find_operation(method: str, url: str) -> Operation:
    """The OpenAPI operation a request addresses (exact path template match, '{Name}' = one segment)."""
    path = urlsplit(url).path
    for template, item in oai()["paths"].items():
        pattern = "^" + re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", re.escape(template).replace(r"\{", "{")
                               .replace(r"\}", "}")) + "$"
        match = re.match(pattern, path)
        if match and method.lower() in item:
            return Operation(template, method.upper(), item[method.lower()], match.groupdict())
    raise AssertionError(f"{method} {path} is not an operation of Twilio's API")


def coerce(value: Any, schema: dict[str, Any]) -> Any:
    """Form values arrive as strings; turn them into what the schema types (see the OAI README)."""
    kind = schema.get("type")
    if kind == "array":
        values = value if isinstance(value, list) else [value]
        return [coerce(v, schema.get("items", {})) for v in values]
    if isinstance(value, list):
        assert len(value) == 1, f"only arrays may repeat, got {value!r}"
        value = value[0]
    if kind == "boolean":
        assert value in ("true", "false", "True", "False"), f"{value!r} is not a boolean"
        return value.lower() == "true"
    if kind == "integer":
        assert re.fullmatch(r"-?\d+", str(value)), f"{value!r} is not an integer"
        return int(value)
    return value


def check(schema: dict[str, Any], value: Any, where: str) -> None:
    errors = [e.message for e in OAS30Validator(schema).iter_errors(value)]
    assert not errors, f"{where}: {errors}"


@dataclass
class Captured:
    method: str
    url: str
    params: dict[str, Any]
    data: dict[str, Any]


def validate_request(request: Captured) -> Operation:
    """Assert the request conforms to its operation's request schema; returns the operation."""
    operation = find_operation(request.method, request.url)
    path_schemas = operation.parameters("path")
    assert set(path_schemas) == set(operation.path_params)
    for name, value in operation.path_params.items():
        check(path_schemas[name], value, f"path parameter {name}")
    query_schemas = operation.parameters("query")
    for name, value in request.params.items():
        assert name in query_schemas, f"unknown query parameter {name} for {operation.template}"
        check(query_schemas[name], coerce(value, query_schemas[name]), f"query parameter {name}")
    schema = operation.form_schema()
    if schema is None:
        assert not request.data, f"{operation.method} {operation.template} takes no form body"
        return operation
    properties = schema.get("properties", {})
    unknown = set(request.data) - set(properties)
    assert not unknown, f"{operation.template}: unknown form fields {sorted(unknown)}"
    body = {name: coerce(value, properties[name]) for name, value in request.data.items()}
    check(schema, body, f"{operation.method} {operation.template} body")
    return operation


class CapturingHttpClient(HttpClient):
    """Records what the SDK sends and answers like the carrier would (OAI example, echoing the request)."""

    def __init__(self) -> None:
        super().__init__(logger=None, is_async=False)  # type: ignore[arg-type]
        self.requests: list[Captured] = []
        self.answers: list[dict[str, Any] | None] = []  # what the provider must report back, parsed

    def request(self, method, uri, params=None, data=None, headers=None, auth=None, timeout=None,
                allow_redirects=False) -> Response:
        captured = Captured(method, uri, dict(params or {}), dict(data or {}))
        self.requests.append(captured)
        operation = find_operation(method, uri)
        if MISSING_SID in operation.path_params.values():
            return Response(404, json.dumps({"code": 20404, "status": 404, "more_info": "https://www.twilio.com/docs/errors/20404",
                                             "message": f"The requested resource {urlsplit(uri).path} was not found"}))
        status, body = operation.example_response()
        if body is None:
            self.answers.append(None)
            return Response(status, "")
        answer = echo(operation, captured, body)
        self.answers.append(answer)
        return Response(status, json.dumps(answer))


def _flag(data: dict[str, Any], name: str, default: bool) -> bool:
    value = data.get(name)
    return default if value is None else str(value).lower() == "true"


def echo(operation: Operation, request: Captured, body: dict[str, Any]) -> dict[str, Any]:
    """Make the canned answer consistent with the request, so behaviour tests hold on this client too."""
    ids = operation.path_params
    data = request.data
    if operation.template.endswith("/Calls.json"):
        body.update(sid=CALL_SID, status="queued", to=data["To"], **{"from": data["From"]}, direction="outbound-api")
    elif operation.template.endswith("/Calls/{Sid}.json"):
        body.update(sid=ids["Sid"], status=data.get("Status", "in-progress"))
    elif operation.template.endswith("/Participants.json"):
        body.update(call_sid=AGENT_CALL_SID, conference_sid=CONFERENCE_SID, label=data.get("Label"),
                    muted=_flag(data, "Muted", False), hold=False, coaching=_flag(data, "Coaching", False),
                    call_sid_to_coach=data.get("CallSidToCoach"), status="queued")
    elif operation.template.endswith("/Participants/{CallSid}.json"):
        body.update(call_sid=ids["CallSid"], conference_sid=ids["ConferenceSid"],
                    muted=_flag(data, "Muted", body.get("muted", False)), hold=_flag(data, "Hold", False),
                    coaching=_flag(data, "Coaching", False), call_sid_to_coach=data.get("CallSidToCoach"))
    elif operation.template.endswith("/Conferences.json"):
        wanted = request.params.get("FriendlyName", "")
        live = request.params.get("Status") == "in-progress" and not wanted.startswith("no-such")
        rooms = body["conferences"][:1] if live else []
        for room in rooms:
            room.update(sid=CONFERENCE_SID, friendly_name=wanted, status="in-progress")
        body["conferences"] = rooms
        body["next_page_uri"] = None
    elif operation.template.endswith("/Conferences/{Sid}.json"):
        body.update(sid=ids["Sid"], status=data.get("Status", body.get("status")))
    elif operation.template.endswith("/Messages.json"):
        body.update(sid=MESSAGE_SID, status="queued", to=data["To"], **{"from": data["From"]}, body=data["Body"])
    return body


@pytest.fixture
def carrier() -> CapturingHttpClient:
    return CapturingHttpClient()


@pytest.fixture
def provider(carrier) -> TwilioProvider:
    return TwilioProvider(account_sid=ACCOUNT_SID, auth_token="contract-token", http_client=carrier)


def only_request(carrier: CapturingHttpClient) -> tuple[Captured, Operation]:
    assert len(carrier.requests) == 1, carrier.requests
    request = carrier.requests[0]
    return request, validate_request(request)


def test_place_call_with_amd_and_all_progress_events(provider, carrier):
    info = provider.place_call(
        "+14155550123", "+18005550100", url="https://cc.example.com/ivr/outbound",
        status_callback="https://cc.example.com/ivr/status", machine_detection="DetectMessageEnd",
        async_amd=True, async_amd_status_callback="https://cc.example.com/ivr/amd", timeout=25, record=True,
    )
    request, operation = only_request(carrier)
    assert (operation.method, operation.template) == ("POST", "/2010-04-01/Accounts/{AccountSid}/Calls.json")
    assert request.data["StatusCallbackEvent"] == ["initiated", "ringing", "answered", "completed"]
    assert (request.data["MachineDetection"], request.data["AsyncAmd"], request.data["Record"]) == (
        "DetectMessageEnd", "true", "true")
    assert request.data["Timeout"] == 25
    assert info.sid == CALL_SID


def test_place_call_to_an_agent_client_with_inline_twiml(provider, carrier):
    provider.place_call("client:alice", "+18005550100", twiml="<Response><Say>Hi</Say></Response>")
    request, _ = only_request(carrier)
    assert request.data["To"] == "client:alice"
    assert "Url" not in request.data and "StatusCallback" not in request.data


def test_get_call(provider, carrier):
    assert provider.get_call(CALL_SID).sid == CALL_SID
    _, operation = only_request(carrier)
    assert (operation.method, operation.template) == ("GET", "/2010-04-01/Accounts/{AccountSid}/Calls/{Sid}.json")


def test_redirect_call_to_twiml(provider, carrier):
    provider.redirect_call(CALL_SID, twiml="<Response><Hangup/></Response>")
    request, operation = only_request(carrier)
    assert (operation.method, operation.template) == ("POST", "/2010-04-01/Accounts/{AccountSid}/Calls/{Sid}.json")
    assert request.data == {"Twiml": "<Response><Hangup/></Response>"}


def test_redirect_call_to_url(provider, carrier):
    provider.redirect_call(CALL_SID, url="https://cc.example.com/ivr/wait")
    request, _ = only_request(carrier)
    assert request.data == {"Url": "https://cc.example.com/ivr/wait", "Method": "POST"}


def test_end_call(provider, carrier):
    ended = provider.end_call(CALL_SID)
    request, _ = only_request(carrier)
    assert request.data == {"Status": "completed"}
    assert ended.status == carrier.answers[0]["status"]  # reported as answered (the answer itself is the double's)


def test_find_conference(provider, carrier):
    found = provider.find_conference("friendly_name")
    assert found is not None and found.sid.startswith("CF")
    assert len(carrier.requests) == 1
    operation = validate_request(carrier.requests[0])
    assert (operation.method, operation.template) == ("GET", "/2010-04-01/Accounts/{AccountSid}/Conferences.json")
    assert carrier.requests[0].params["FriendlyName"] == "friendly_name"


def test_find_conference_that_does_not_exist_asks_for_live_states_only(provider, carrier):
    assert provider.find_conference("no-such-room") is None
    assert [r.params["Status"] for r in carrier.requests] == ["in-progress", "init"]
    for request in carrier.requests:
        validate_request(request)


def test_add_participant_coaching_with_callbacks(provider, carrier):
    info = provider.add_participant(
        "interaction-42", from_="+18005550100", to="client:supervisor", label="supervisor", coaching=True,
        call_sid_to_coach=AGENT_CALL_SID, beep="onEnter", end_conference_on_exit=False, timeout=20,
        status_callback="https://cc.example.com/ivr/status", status_callback_events=("ringing", "answered"),
    )
    request, operation = only_request(carrier)
    assert operation.template == "/2010-04-01/Accounts/{AccountSid}/Conferences/{ConferenceSid}/Participants.json"
    assert operation.path_params["ConferenceSid"] == "interaction-42"
    assert (request.data["Coaching"], request.data["CallSidToCoach"]) == ("true", AGENT_CALL_SID)
    assert request.data["StatusCallbackEvent"] == ["ringing", "answered"]
    answer = carrier.answers[0]
    assert (info.coaching, info.call_sid_to_coach, info.label) == (answer["coaching"], answer["call_sid_to_coach"],
                                                                   answer["label"])


def test_hold_participant_with_music(provider, carrier):
    held = provider.hold_participant(CONFERENCE_SID, CALL_SID, hold_url="https://cc.example.com/hold.mp3")
    request, operation = only_request(carrier)
    assert held.hold == carrier.answers[0]["hold"]
    assert operation.template.endswith("/Participants/{CallSid}.json")
    assert request.data == {"Hold": "true", "HoldUrl": "https://cc.example.com/hold.mp3", "HoldMethod": "GET"}


def test_unhold_participant(provider, carrier):
    resumed = provider.hold_participant(CONFERENCE_SID, CALL_SID, hold=False)
    request, _ = only_request(carrier)
    assert resumed.hold == carrier.answers[0]["hold"]
    assert request.data == {"Hold": "false"}


@pytest.mark.parametrize("muted", [True, False])
def test_mute_and_unmute_participant(provider, carrier, muted):
    reported = provider.mute_participant(CONFERENCE_SID, CALL_SID, muted)
    request, _ = only_request(carrier)
    assert reported.muted == carrier.answers[0]["muted"]
    assert request.data == {"Muted": "true" if muted else "false"}


def test_coach_and_barge(provider, carrier):
    provider.coach_participant(CONFERENCE_SID, CALL_SID, AGENT_CALL_SID)
    provider.coach_participant(CONFERENCE_SID, CALL_SID, None)
    for request in carrier.requests:
        validate_request(request)
    assert [r.data for r in carrier.requests] == [{"Coaching": "true", "CallSidToCoach": AGENT_CALL_SID},
                                                  {"Coaching": "false"}]


def test_remove_participant(provider, carrier):
    provider.remove_participant(CONFERENCE_SID, CALL_SID)
    _, operation = only_request(carrier)
    assert operation.method == "DELETE"
    assert operation.template.endswith("/Participants/{CallSid}.json")


def test_end_conference(provider, carrier):
    ended = provider.end_conference(CONFERENCE_SID)
    request, operation = only_request(carrier)
    assert ended.status == carrier.answers[0]["status"]
    assert operation.template == "/2010-04-01/Accounts/{AccountSid}/Conferences/{Sid}.json"
    assert request.data == {"Status": "completed"}


def test_send_message_with_a_status_callback(provider, carrier):
    info = provider.send_message("+14155550123", "+18005550100", "Reset the router, then wait two minutes.",
                                 status_callback="https://cc.example.com/messages/status")
    request, operation = only_request(carrier)
    assert (operation.method, operation.template) == ("POST", "/2010-04-01/Accounts/{AccountSid}/Messages.json")
    assert (request.data["To"], request.data["From"], request.data["StatusCallback"]) == (
        "+14155550123", "+18005550100", "https://cc.example.com/messages/status")
    assert (info.sid, info.status, info.to, info.from_) == (MESSAGE_SID, "queued", "+14155550123", "+18005550100")
    assert info.body == "Reset the router, then wait two minutes."


def test_the_validator_catches_what_twilio_would_refuse():
    """The contract check itself: wrong enum, unknown field, missing required field, bad path SID."""
    base = f"https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT_SID}"
    bad = [
        Captured("POST", f"{base}/Calls.json", {},
                 {"To": "+1", "From": "+1", "Url": "u", "StatusCallbackMethod": "PUT"}),
        Captured("POST", f"{base}/Calls.json", {}, {"To": "+1", "From": "+1", "Url": "u", "CallSidToCoach": "x"}),
        Captured("POST", f"{base}/Calls.json", {}, {"To": "+1", "Url": "u"}),
        Captured("POST", f"{base}/Conferences/room/Participants/{CALL_SID}.json", {}, {"Hold": "true"}),
        Captured("POST", f"{base}/Calls/{CALL_SID}.json", {}, {"Status": "paused"}),
        Captured("POST", f"{base}/Calls.json", {}, {"To": "+1", "From": "+1", "Timeout": "soon"}),
    ]
    for request in bad:
        with pytest.raises(AssertionError):
            validate_request(request)
