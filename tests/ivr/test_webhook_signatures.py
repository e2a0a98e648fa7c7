"""Only requests signed by the carrier reach the voice webhooks; anything else is a 403 with no side effect."""

from __future__ import annotations

import hashlib
import json
import xml.etree.ElementTree as ET

import pytest
from flask import jsonify, request
from twilio.request_validator import RequestValidator
from werkzeug.datastructures import MultiDict

from callcenter.telephony import get_provider
from callcenter.telephony.twilio_provider import TwilioProvider
from ivr.guard import twilio_signed

ACCOUNT_SID = "AC" + "5" * 32
AUTH_TOKEN = "webhook-test-auth-token"
CALL_SID = "CA" + "9" * 32


@pytest.fixture
def app_config(app_config):
    """Production mode: the carrier signs with TWILIO_AUTH_TOKEN."""
    return {**app_config, "TELEPHONY_PROVIDER": "twilio", "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
            "TWILIO_AUTH_TOKEN": AUTH_TOKEN}


def sign(url: str, params, token: str = AUTH_TOKEN) -> str:
    return RequestValidator(token).compute_signature(url, params)


def voice_params(**overrides: str) -> dict[str, str]:
    return {"AccountSid": ACCOUNT_SID, "CallSid": CALL_SID, "From": "+14155550123", "To": "+18005550100",
            "CallStatus": "ringing", "Direction": "inbound", "ApiVersion": "2010-04-01", **overrides}


def status_params(**overrides: str) -> dict[str, str]:
    return voice_params(CallStatus="completed", CallDuration="42", SequenceNumber="3",
                        Timestamp="Mon, 02 Jun 2025 14:00:42 +0000", **overrides)


def test_twilio_documented_test_vector():
    """Twilio's published example: the provider must accept exactly this signature, and nothing altered."""
    provider = TwilioProvider(account_sid=ACCOUNT_SID, auth_token="12345")
    url = "https://mycompany.com/myapp.php?foo=1&bar=2"
    params = {"CallSid": "CA1234567890ABCDE", "Digits": "1234", "From": "+14158675309",
              "Caller": "+14158675309", "To": "+18005551212"}
    signature = "RSOYDt4T1cUTdK1PDd93/VVr8B8="
    assert provider.validate_webhook(url, params, signature)
    assert provider.validate_webhook("https://mycompany.com:443/myapp.php?foo=1&bar=2", params, signature)
    assert provider.validate_webhook(url, MultiDict(params), signature)
    assert not provider.validate_webhook(url, {**params, "Digits": "1235"}, signature)
    assert not provider.validate_webhook(url, {**params, "Extra": "x"}, signature)
    assert not provider.validate_webhook("https://mycompany.com/myapp.php?foo=1&bar=3", params, signature)
    assert not provider.validate_webhook(url, params, "")


def test_a_signature_over_either_form_of_the_url_is_accepted_whichever_form_arrives():
    """The URL as received is checked first (one HMAC); the library's two forms, with and without the port, after
    it: a proxy may add or drop the default port between what Twilio signed and what the server sees."""
    provider = TwilioProvider(account_sid=ACCOUNT_SID, auth_token=AUTH_TOKEN)
    params = voice_params()
    forms = ["https://cc.example.com/ivr/voice", "https://cc.example.com:443/ivr/voice"]
    for signed in forms:
        for received in forms:
            assert provider.validate_webhook(received, params, sign(signed, params)), (signed, received)
    assert not provider.validate_webhook(forms[0], params, sign("https://cc.example.com/ivr/menu", params))
    assert not provider.validate_webhook(forms[1], params, sign(forms[0], params, token="another-token"))


def test_signed_voice_request_opens_the_call_and_greets(client, rows, factory):
    factory.demo_line()
    params = voice_params()
    response = client.post("/ivr/voice", data=params,
                           headers={"X-Twilio-Signature": sign("http://localhost/ivr/voice", params)})
    assert response.status_code == 200
    assert response.mimetype == "text/xml"
    root = ET.fromstring(response.data)
    assert root.tag == "Response"
    gather = root.find("Gather")
    assert gather is not None
    assert (gather.get("numDigits"), gather.get("action"), gather.get("method")) == (
        "1", "http://localhost/ivr/menu?node=main&attempt=0", "POST")
    assert gather.find("Say").text.startswith("Thank you for calling")
    assert rows() == (1, 1)


def test_signed_status_callback_is_recorded(client, rows):
    params = status_params()
    response = client.post("/ivr/status", data=params,
                           headers={"X-Twilio-Signature": sign("http://localhost/ivr/status", params)})
    assert response.status_code == 204
    assert response.data == b""
    assert rows() == (1, 1)


REJECTED = {
    "unsigned": lambda url, params: None,
    "forged": lambda url, params: sign(url, params, token="not-the-auth-token"),
    "parameter altered": lambda url, params: sign(url, {**params, "From": "+14155550999"}),
    "signed for another url": lambda url, params: sign("http://localhost/ivr/other", params),
    "garbage": lambda url, params: "x" * 28,
}


@pytest.mark.parametrize("path,make_params", [("/ivr/voice", voice_params), ("/ivr/status", status_params)])
@pytest.mark.parametrize("case", list(REJECTED))
def test_bad_signatures_are_refused_without_side_effect(client, rows, path, make_params, case):
    params = make_params()
    signature = REJECTED[case](f"http://localhost{path}", params)
    headers = {"X-Twilio-Signature": signature} if signature else {}
    before = rows()
    response = client.post(path, data=params, headers=headers)
    assert response.status_code == 403
    assert response.get_data(as_text=True) == "Invalid signature"
    assert rows() == before == (0, 0)


def test_every_value_of_a_repeated_field_is_signed(client, rows):
    params = MultiDict([*status_params().items(), ("StatusCallbackEvent", "ringing"),
                        ("StatusCallbackEvent", "answered")])
    url = "http://localhost/ivr/status"
    only_first = sign(url, params.to_dict())  # a guard that kept one value per name would accept this
    assert client.post("/ivr/status", data=params, headers={"X-Twilio-Signature": only_first}).status_code == 403
    assert rows() == (0, 0)
    response = client.post("/ivr/status", data=params, headers={"X-Twilio-Signature": sign(url, params)})
    assert response.status_code == 204
    assert rows() == (1, 1)


def test_query_string_is_part_of_the_signed_url(client, rows):
    params = status_params()
    url = "http://localhost/ivr/status?leg=agent&attempt=2"
    bad = client.post("/ivr/status?leg=agent&attempt=3", data=params, headers={"X-Twilio-Signature": sign(url, params)})
    assert bad.status_code == 403
    good = client.post("/ivr/status?leg=agent&attempt=2", data=params,
                       headers={"X-Twilio-Signature": sign(url, params)})
    assert good.status_code == 204


def test_behind_a_tls_proxy_the_public_url_is_what_is_signed(app_config, request, rows):
    """The proxy forwards plain http to us; Twilio signed the https URL users configured."""
    app_config["PUBLIC_BASE_URL"] = "https://cc.example.com"
    client = request.getfixturevalue("client")
    params = voice_params()
    internal = client.post("/ivr/voice", data=params,
                           headers={"X-Twilio-Signature": sign("http://localhost/ivr/voice", params)})
    assert internal.status_code == 403
    public = client.post("/ivr/voice", data=params,
                         headers={"X-Twilio-Signature": sign("https://cc.example.com/ivr/voice", params)})
    assert public.status_code == 200
    assert rows() == (1, 1)


def test_forwarded_headers_are_used_only_when_trusted(app_config, request):
    app_config["TRUST_FORWARDED_HEADERS"] = True
    client = request.getfixturevalue("client")
    params = status_params()
    signature = sign("https://cc.example.com/ivr/status", params)
    forwarded = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "cc.example.com", "X-Forwarded-For": "1.2.3.4"}
    response = client.post("/ivr/status", data=params, headers={"X-Twilio-Signature": signature, **forwarded})
    assert response.status_code == 204


def test_forwarded_headers_are_ignored_when_not_trusted(client):
    params = status_params()
    signature = sign("https://cc.example.com/ivr/status", params)
    response = client.post("/ivr/status", data=params, headers={
        "X-Twilio-Signature": signature, "X-Forwarded-Proto": "https", "X-Forwarded-Host": "cc.example.com"})
    assert response.status_code == 403


def test_json_body_is_checked_through_its_body_sha256(app):
    """JSON webhooks sign the URL (carrying bodySHA256) and the body's hash stands for the fields."""
    ran = []

    @twilio_signed
    def json_hook():
        ran.append(request.get_json())
        return jsonify(ok=True)

    app.add_url_rule("/test-json-hook", "test_json_hook", json_hook, methods=["POST"])
    client = app.test_client()
    body = json.dumps({"CallSid": CALL_SID, "Event": "ringing"})
    digest = hashlib.sha256(body.encode()).hexdigest()
    url = f"http://localhost/test-json-hook?bodySHA256={digest}"
    headers = {"X-Twilio-Signature": sign(url, {}), "Content-Type": "application/json"}
    assert client.post(f"/test-json-hook?bodySHA256={digest}", data=body, headers=headers).status_code == 200
    tampered = body.replace("ringing", "answered")
    assert client.post(f"/test-json-hook?bodySHA256={digest}", data=tampered, headers=headers).status_code == 403
    no_hash = {"X-Twilio-Signature": sign("http://localhost/test-json-hook", {}), "Content-Type": "application/json"}
    assert client.post("/test-json-hook", data=body, headers=no_hash).status_code == 403
    assert ran == [json.loads(body)]


def test_the_guard_uses_the_configured_provider(app):
    assert get_provider(app).validate_webhook("http://localhost/x", {}, sign("http://localhost/x", {}))


# ---- what is read before the signature is checked: a type we expect, of a bounded size ----

@pytest.fixture
def body_reads(monkeypatch):
    """Counts every time a request's body is parsed or read (form, files, JSON or raw data)."""
    from flask import Request

    reads = []
    load_form, get_data = Request._load_form_data, Request.get_data

    def counted_load_form(self, *args, **kwargs):
        reads.append("form")
        return load_form(self, *args, **kwargs)

    def counted_get_data(self, *args, **kwargs):
        reads.append("data")
        return get_data(self, *args, **kwargs)

    monkeypatch.setattr(Request, "_load_form_data", counted_load_form)
    monkeypatch.setattr(Request, "get_data", counted_get_data)
    return reads


@pytest.mark.parametrize("content_type", ["multipart/form-data", "text/plain", "application/xml"])
def test_an_unexpected_content_type_is_refused_before_the_body_is_read(client, rows, content_type, body_reads):
    """Twilio posts url-encoded forms (or JSON, signed through bodySHA256); anything else is 415 unread, even when
    it would parse into correctly signed fields (multipart does)."""
    params = status_params()
    url = "http://localhost/ivr/status"
    if content_type == "multipart/form-data":
        body = {"data": params, "content_type": content_type}
    else:
        body = {"data": "&".join(f"{k}={v}" for k, v in params.items()), "content_type": content_type}
    response = client.post("/ivr/status", headers={"X-Twilio-Signature": sign(url, params)}, **body)
    assert response.status_code == 415
    assert "application/x-www-form-urlencoded" in response.get_data(as_text=True)
    assert body_reads == []
    assert rows() == (0, 0)


def test_a_body_over_the_limit_is_refused_before_it_is_read(app, client, rows, body_reads):
    limit = app.config.get("MAX_CONTENT_LENGTH")
    assert limit == app.config.get("MAX_REQUEST_BYTES") == 1024 * 1024
    params = status_params(Padding="x" * limit)
    response = client.post("/ivr/status", data=params,
                           headers={"X-Twilio-Signature": sign("http://localhost/ivr/status", params)})
    assert response.status_code == 413
    assert str(limit) in response.get_data(as_text=True)
    assert body_reads == []
    assert rows() == (0, 0)


def test_the_request_size_limit_is_app_wide_and_a_setting(app_config, request):
    """The API answers its own error shape; an ordinary body still passes. MAX_REQUEST_BYTES sets the limit."""
    app_config["MAX_REQUEST_BYTES"] = 4096
    client = request.getfixturevalue("client")
    from callcenter.services import auth as auth_service

    agent = request.getfixturevalue("factory").user("agent")
    token = auth_service.issue_api_token(request.getfixturevalue("session"), agent, "t", actor_id=None)
    request.getfixturevalue("session").commit()
    headers = {"Authorization": f"Bearer {token}"}
    big = client.post("/api/v1/contacts", json={"last_name": "Big", "notes": "x" * 5000}, headers=headers)
    assert big.status_code == 413
    assert big.get_json()["status"] == 413 and "4096" in big.get_json()["message"]
    small = client.post("/api/v1/contacts", json={"last_name": "Small", "notes": "x" * 1000}, headers=headers)
    assert small.status_code == 201
