"""The voice and status webhooks keep the caller served: valid TwiML even when the database is down."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest
from sqlalchemy import create_engine
from twilio.request_validator import RequestValidator

from callcenter.extensions import db
from callcenter.telephony import twiml
from ivr import guard

AUTH_TOKEN = "ivr-test-auth-token"
CALL_SID = "CA" + "7" * 32


@pytest.fixture
def app_config(app_config):
    return {**app_config, "TELEPHONY_PROVIDER": "twilio", "TWILIO_ACCOUNT_SID": "AC" + "6" * 32,
            "TWILIO_AUTH_TOKEN": AUTH_TOKEN}


def post_signed(client, path: str, params: dict[str, str]):
    signature = RequestValidator(AUTH_TOKEN).compute_signature(f"http://localhost{path}", params)
    return client.post(path, data=params, headers={"X-Twilio-Signature": signature})


def voice_params(**overrides: str) -> dict[str, str]:
    return {"CallSid": CALL_SID, "From": "+14155550123", "To": "+18005550100", "CallStatus": "ringing",
            "Direction": "inbound", **overrides}


@pytest.fixture
def database_down(app):
    """The database server is gone: every new connection is refused."""
    db.engine.dispose()
    dead = create_engine("postgresql+psycopg://nobody@127.0.0.1:9/nowhere", connect_args={"connect_timeout": 2})
    db.session.remove()
    db.session_factory.configure(bind=dead)
    yield
    dead.dispose()


def test_technical_difficulties_says_sorry_and_hangs_up():
    root = ET.fromstring(twiml.technical_difficulties().to_xml())
    assert [child.tag for child in root] == ["Say", "Hangup"]
    assert "technical difficulties" in root.find("Say").text


def test_voice_answers_valid_twiml_when_the_database_is_down(client, database_down):
    """The caller is held and the greeting asked for again (a database failing over is back in seconds); after
    the last retry they are told and the call ends, never a carrier error."""
    response = post_signed(client, "/ivr/voice", voice_params())
    assert response.status_code == 200
    assert response.mimetype == "text/xml"
    root = ET.fromstring(response.data)
    assert [child.tag for child in root] == ["Pause", "Redirect"]
    assert root.find("Redirect").text == "http://localhost/ivr/voice?busy_retry=1"

    last = post_signed(client, f"/ivr/voice?busy_retry={guard.BUSY_RETRIES}", voice_params())
    assert last.status_code == 200 and last.mimetype == "text/xml"
    assert [child.tag for child in ET.fromstring(last.data)] == ["Say", "Hangup"]


def test_status_callback_is_acknowledged_when_the_database_is_down(client, database_down):
    response = post_signed(client, "/ivr/status", voice_params(CallStatus="completed", CallDuration="3"))
    assert response.status_code == 204


def test_repeated_voice_webhook_keeps_one_call(client, session):
    from callcenter.services import calls

    for _ in range(2):
        assert post_signed(client, "/ivr/voice", voice_params()).status_code == 200
    call = calls.get_call(session, CALL_SID)
    assert (call.status, call.direction, call.from_number) == ("ringing", "inbound", "+14155550123")
    assert len(calls.call_events(session, call)) == 1


def test_malformed_status_callback_gets_a_4xx_with_the_reason(client):
    response = post_signed(client, "/ivr/status", voice_params(CallStatus="exploded"))
    assert response.status_code == 422
    assert "exploded" in response.get_data(as_text=True)
    missing = post_signed(client, "/ivr/status", {"CallStatus": "ringing"})
    assert missing.status_code == 422
    assert "CallSid" in missing.get_data(as_text=True)


def test_webhooks_need_no_csrf_token(app_config, request):
    app_config["WTF_CSRF_ENABLED"] = True
    client = request.getfixturevalue("client")
    assert post_signed(client, "/ivr/voice", voice_params()).status_code == 200


def test_a_signed_webhook_carrying_a_nul_is_refused_before_anything_is_written(client, session):
    from sqlalchemy import func, select

    from callcenter.models import CallEvent

    unsigned = client.post("/ivr/status", data=voice_params(CallStatus="completed\x00"))
    assert unsigned.status_code == 403  # the signature is still checked first
    refused = post_signed(client, "/ivr/status", voice_params(CallStatus="completed", From="+1415\x00"))
    assert refused.status_code == 400 and "NUL" in refused.get_data(as_text=True)
    session.expire_all()
    assert session.scalar(select(func.count()).select_from(CallEvent)) == 0
