"""The emulator's Messages resource: driven by the real SDK through TwilioProvider, every answer validated against
Twilio's OpenAPI response schema, and the messages kept for tests to read."""

from __future__ import annotations

import json

import pytest
from openapi_schema_validator import OAS30Validator
from twilio.base.exceptions import TwilioRestException
from twilio.rest import Client

from callcenter.telephony.base import UNSUBSCRIBED_RECIPIENT, TelephonyError
from callcenter.telephony.sim.messaging import received_by
from callcenter.telephony.twilio_provider import TwilioProvider
from tests.support.contracts import TWILIO_OAI
from tests.telephony.sim.conftest import CALLER, Sim
from tests.telephony.sim.test_contract import RecordingHttpClient, operation_schema


@pytest.fixture(scope="module")
def spec():
    return json.loads(TWILIO_OAI.read_text())


def test_messages_answer_as_twilios_openapi_says_and_are_kept(sim: Sim, spec) -> None:
    http = RecordingHttpClient(sim.app)
    number = sim.number("/voice")
    provider = TwilioProvider(account_sid=sim.carrier.account_sid, auth_token=sim.carrier.auth_token,
                              http_client=http, base_url="http://localhost/sim")
    client = Client(sim.carrier.account_sid, sim.carrier.auth_token, http_client=http)
    client.api.base_url = "http://localhost/sim"
    account = client.api.v2010.accounts(sim.carrier.account_sid)

    sent = provider.send_message(CALLER, number, "Restart the router: hold the button for 10 s.",
                                 status_callback="http://localhost/t/sms-status")
    assert (sent.status, sent.to, sent.from_) == ("queued", CALLER, number) and sent.sid.startswith("SM")
    chinese = provider.send_message(CALLER, number, "清除浏览器缓存，然后用新密码登录。")

    fetched = account.messages(sent.sid).fetch()
    assert (fetched.status, fetched.body, fetched.num_segments) == ("delivered", sent.body, "1")
    assert [m.sid for m in account.messages.list(to=CALLER)] == [chinese.sid, sent.sid]
    assert account.messages.list(to="+14155550199") == []
    assert [(m.to, m.from_, m.body) for m in received_by(sim.carrier, CALLER)] == [
        (CALLER, number, "Restart the router: hold the button for 10 s."),
        (CALLER, number, "清除浏览器缓存，然后用新密码登录。")]

    for exchange in [e for e in http.exchanges if e[2] < 400]:
        method, url, status, body = exchange
        OAS30Validator(operation_schema(spec, method, url, status)).validate(json.loads(body))
    assert len([e for e in http.exchanges if e[2] < 400]) == 5


@pytest.mark.parametrize(("to", "from_", "body", "code"), [
    ("not a number", "+18005550100", "Hi", 21211),
    ("+14155550100", "+18005550177", "Hi", 21606),  # not one of the account's numbers
    ("+14155550100", "+18005550100", "", 21602),
    ("+14155550100", "+18005550100", "x" * 1601, 21617),
])
def test_what_twilio_refuses_the_emulator_refuses(sim: Sim, to, from_, body, code) -> None:
    sim.number("/voice")
    client = Client(sim.carrier.account_sid, sim.carrier.auth_token, http_client=RecordingHttpClient(sim.app))
    client.api.base_url = "http://localhost/sim"
    with pytest.raises(TwilioRestException) as refused:
        client.api.v2010.accounts(sim.carrier.account_sid).messages.create(to=to, from_=from_, body=body)
    assert (refused.value.status, refused.value.code) == (400, code)
    assert sim.carrier.messages == {}


def test_a_recipient_who_replied_stop_gets_nothing(sim: Sim) -> None:
    number = sim.number("/voice")
    sim.carrier.unsubscribed.add(CALLER)
    provider = TwilioProvider(account_sid=sim.carrier.account_sid, auth_token=sim.carrier.auth_token,
                              http_client=RecordingHttpClient(sim.app), base_url="http://localhost/sim")
    with pytest.raises(TelephonyError) as refused:
        provider.send_message(CALLER, number, "Hello")
    assert refused.value.code == UNSUBSCRIBED_RECIPIENT and received_by(sim.carrier, CALLER) == []


def test_an_unknown_message_is_twilios_404(sim: Sim) -> None:
    client = Client(sim.carrier.account_sid, sim.carrier.auth_token, http_client=RecordingHttpClient(sim.app))
    client.api.base_url = "http://localhost/sim"
    with pytest.raises(TwilioRestException) as missing:
        client.api.v2010.accounts(sim.carrier.account_sid).messages("SM" + "0" * 32).fetch()
    assert (missing.value.status, missing.value.code) == (404, 20404)
