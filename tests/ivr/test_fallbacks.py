"""When routing cannot work (Redis down, a queue switched off mid-call), the caller still gets valid TwiML and a
way to leave a message, never the carrier's application error."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from callcenter.redis_conn import connect
from tests.ivr.test_voice_webhooks import AUTH_TOKEN, post_signed, voice_params

__all__ = ["AUTH_TOKEN"]


@pytest.fixture
def app_config(app_config):
    return {**app_config, "TELEPHONY_PROVIDER": "twilio", "TWILIO_ACCOUNT_SID": "AC" + "6" * 32,
            "TWILIO_AUTH_TOKEN": AUTH_TOKEN}


def _verbs(response) -> list[str]:
    assert response.status_code == 200 and response.mimetype == "text/xml", response.data
    return [child.tag for child in ET.fromstring(response.data)]


def test_redis_down_while_queueing_offers_a_message(app, client, factory):
    factory.demo_line()
    assert "Gather" in _verbs(post_signed(client, "/ivr/voice", voice_params()))
    app.extensions["callcenter.redis"] = connect("unix:///nonexistent/redis.sock")

    response = post_signed(client, "/ivr/menu?node=main&attempt=0", voice_params(Digits="1"))

    root = ET.fromstring(response.data)
    assert _verbs(response)[-1] in ("Record", "Say", "Hangup") and root.find("Record") is not None
    assert root.find("Record").get("action") == "http://localhost/ivr/voicemail"


def test_a_queue_switched_off_mid_call_does_not_drop_the_caller(client, factory, session):
    line = factory.demo_line()
    post_signed(client, "/ivr/voice", voice_params())
    line["Sales"].active = False
    session.commit()

    response = post_signed(client, "/ivr/menu?node=main&attempt=0", voice_params(Digits="1"))

    assert ET.fromstring(response.data).find("Record") is not None


def test_malformed_status_callback_still_gets_a_4xx(client):
    response = post_signed(client, "/ivr/status", {"CallSid": "CA" + "1" * 32, "CallStatus": "exploded"})
    assert response.status_code == 422
