"""Strict TwiML (what Twilio would refuse ends the call and is recorded) and the network fault knobs."""

from __future__ import annotations

import time

import pytest

from callcenter.telephony.sim.engine import APPLICATION_ERROR
from callcenter.telephony.sim.testing import assert_no_carrier_errors
from callcenter.telephony.sim.twiml import TwimlError, parse
from tests.telephony.sim.conftest import CALLER, Sim


def doc(body: str) -> str:
    return f"<Response>{body}</Response>"


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        ("<Shout>hi</Shout>", "Unknown TwiML element <Shout>"),
        ("<Connect><Stream url='wss://x'/></Connect>", "does not execute"),
        ("<Gather><Dial>+15105550100</Dial></Gather>", "<Dial> cannot be nested in <Gather>"),
        ("<Say><Play>x.mp3</Play></Say>", "cannot be nested"),
        ('<Gather numDigits="abc"/>', "numDigits must be a whole number"),
        ('<Gather input="fax"/>', "input must be"),
        ('<Gather finishOnKey="A"/>', "finishOnKey may only contain"),
        ('<Say colour="red">hi</Say>', "no attribute 'colour'"),
        ('<Pause length="-1"/>', "length must be a whole number"),
        ('<Dial timeout="soon">+15105550100</Dial>', "timeout must be"),
        ('<Dial><Conference beep="loud">room</Conference></Dial>', "beep must be one of"),
        ("<Dial/>", "needs a number"),
        ("<Hangup>now</Hangup>", "takes no text"),
        ('<Reject reason="nope"/>', "reason must be one of"),
        ("<Redirect/>", "needs text"),
        ('<Enqueue method="PUT">q</Enqueue>', "method must be one of"),
        ("<Say>unclosed", "not well-formed"),
    ],
)
def test_invalid_twiml_is_an_error(body: str, problem: str) -> None:
    with pytest.raises(TwimlError, match=problem.replace("(", r"\(").replace("<", "<")):
        parse(body if body.startswith("<Say>unclosed") else doc(body))


def test_root_must_be_response() -> None:
    with pytest.raises(TwimlError, match="root element"):
        parse("<Reply><Say>x</Say></Reply>")


def test_valid_twiml_from_the_sdk_parses() -> None:
    from twilio.twiml.voice_response import Dial, Gather, VoiceResponse

    response = VoiceResponse()
    gather = Gather(input="dtmf speech", num_digits=1, action="/menu", action_on_empty_result=True, timeout=3)
    gather.say("Press one", voice="Polly.Joanna", language="en-US")
    response.append(gather)
    dial = Dial(action="/after", timeout=20, caller_id="+18005550100", record="record-from-answer")
    dial.conference("room", start_conference_on_enter=True, end_conference_on_exit=False, beep=False,
                    wait_url="", status_callback="/conf", status_callback_event="start end join leave",
                    participant_label="customer")
    response.append(dial)
    response.enqueue("support", wait_url="/wait", action="/left")
    response.record(max_length=60, transcribe=True, transcribe_callback="/t", play_beep=True)
    parsed = parse(str(response))
    assert [verb.tag for verb in parsed.children] == ["Gather", "Dial", "Enqueue", "Record"]


def test_invalid_twiml_on_a_call_plays_application_error_and_is_recorded(sim: Sim) -> None:
    sim.server.route("/voice", doc('<Gather numDigits="abc"><Say>x</Say></Gather>'))
    call = sim.carrier.dial(CALLER, sim.number("/voice"))
    assert call.wait_ended() == "completed"
    assert call.transcript == [APPLICATION_ERROR]
    assert len(sim.carrier.errors) == 1 and "numDigits" in sim.carrier.errors[0].message
    with pytest.raises(AssertionError, match="numDigits"):
        assert_no_carrier_errors(sim.carrier)
    sim.carrier.errors.clear()


def test_wrong_content_type_and_http_errors_are_recorded(sim: Sim) -> None:
    from flask import Response

    sim.server.route("/voice", lambda form: Response("<Response/>", mimetype="application/json"))
    call = sim.carrier.dial(CALLER, sim.number("/voice"))
    call.wait_ended()
    assert sim.carrier.errors[0].code == 12300
    sim.carrier.errors.clear()
    sim.server.route("/voice", lambda form: ("oops", 500))
    call = sim.carrier.dial(CALLER, sim.number("/voice"))
    call.wait_ended()
    assert call.transcript == [APPLICATION_ERROR] and sim.carrier.errors[0].code == 11200
    sim.carrier.errors.clear()


def test_verbs_not_allowed_in_a_wait_document(sim: Sim) -> None:
    sim.server.route("/voice", doc('<Enqueue waitUrl="/t/wait">q</Enqueue>'))
    sim.server.route("/wait", doc("<Dial>+15105550100</Dial>"))
    call = sim.carrier.dial(CALLER, sim.number("/voice"))
    call.wait_ended()
    assert "not allowed in this document" in sim.carrier.errors[0].message
    sim.carrier.errors.clear()


def test_failed_webhook_plays_application_error_and_hangs_up(sim: Sim) -> None:
    sim.server.route("/voice", doc("<Say>Hello</Say>"))
    sim.carrier.faults.fail("/t/voice")
    call = sim.carrier.dial(CALLER, sim.number("/voice"))
    assert call.wait_ended() == "completed"
    assert call.transcript == [APPLICATION_ERROR]
    entry = next(e for e in sim.carrier.webhook_log if e.kind == "twiml")
    assert entry.status == 500 and entry.fault == "fail"
    assert sim.carrier.errors == []  # an injected fault is not the application's error


def test_failed_webhook_tries_the_fallback_url_first(sim: Sim) -> None:
    sim.server.route("/voice", doc("<Say>Primary</Say>"))
    sim.server.route("/fallback", doc("<Say>Fallback speaking</Say>"))
    sim.carrier.faults.fail("/t/voice", times=1)
    call = sim.carrier.dial(CALLER, sim.number("/voice", fallback_path="/fallback"))
    call.wait_ended()
    assert call.transcript == ["Fallback speaking"]
    fallback, = sim.server.requests_to("/fallback")
    assert fallback.form["ErrorUrl"] == "http://localhost/t/voice" and fallback.form["ErrorCode"] == "11200"
    assert fallback.signed


def test_delay_holds_a_webhook(sim: Sim) -> None:
    sim.server.route("/voice", doc("<Say>Late</Say>"))
    sim.carrier.faults.delay("/t/voice", 0.3)
    started = time.monotonic()
    call = sim.carrier.dial(CALLER, sim.number("/voice"))
    call.wait_for_say("Late")
    assert time.monotonic() - started >= 0.3
    assert next(e for e in sim.carrier.webhook_log if e.kind == "twiml").fault == "delay"


def test_dropped_leg_vanishes_without_callbacks(sim: Sim) -> None:
    sim.server.route("/voice", doc('<Play loop="0">http://cdn.example.com/music.mp3</Play>'))
    call = sim.carrier.dial(CALLER, sim.number("/voice", status_events=("initiated", "completed")))
    call.wait_for("play")
    sim.carrier.faults.drop_leg(call.sid)
    call.wait_ended()
    sim.carrier.shutdown()
    statuses = [hit.form["CallStatus"] for hit in sim.server.requests_to("/status")]
    assert statuses == ["initiated"]  # no completed callback: the leg was lost


def test_rest_hangup_ends_a_call_and_redirect_after_end_is_refused(sim: Sim) -> None:
    from callcenter.telephony.sim.engine import CarrierRestError

    sim.server.route("/voice", doc('<Pause length="100"/>'))
    call = sim.carrier.dial(CALLER, sim.number("/voice"))
    call.wait_for("pause")
    sim.carrier.end(call.sid)
    assert call.wait_ended() == "completed"
    with pytest.raises(CarrierRestError) as refused:
        sim.carrier.redirect(call.sid, twiml=doc("<Say>x</Say>"))
    assert refused.value.code == 21220
