"""Acceptance scenario: a caller dials the product app through the emulated carrier, hears the menu, presses a key.

Runs on the real app factory (SIM_TRANSPORT=wsgi), once with a well-behaved network and once with status
callbacks duplicated and reordered by the fault knobs.
"""

from __future__ import annotations

import pytest
from flask import Flask
from twilio.twiml.voice_response import Gather, VoiceResponse

from callcenter.telephony.sim import get_carrier
from callcenter.telephony.sim.testing import strict_carrier
from tests.telephony.sim.conftest import CALLER, TwimlServer, twiml_bp

MENU_NUMBER = "+18005550199"
ALL_EVENTS = ("initiated", "ringing", "answered", "completed")


def greeting(_form: dict[str, str]) -> str:
    response = VoiceResponse()
    response.say("Welcome to Acme support.")
    gather = Gather(num_digits=1, action="/t/menu", timeout=20)
    gather.say("For sales press 1, for support press 2.")
    response.append(gather)
    response.say("We did not get your choice. Goodbye.")
    return str(response)


def menu(form: dict[str, str]) -> str:
    response = VoiceResponse()
    response.say(f"You chose option {form['Digits']}. Goodbye.")
    response.hangup()
    return str(response)


@pytest.fixture
def product(app: Flask) -> TwimlServer:
    """The product app with a tiny IVR blueprint and a number pointing at it."""
    server = TwimlServer(app.config["SIM_AUTH_TOKEN"])
    server.route("/voice", greeting)
    server.route("/menu", menu)
    app.extensions["twiml_server"] = server
    app.register_blueprint(twiml_bp)
    get_carrier(app).add_number(MENU_NUMBER, server.url("/voice"), status_callback=server.url("/status"),
                                status_callback_events=ALL_EVENTS)
    return server


def place_menu_call(app: Flask, server: TwimlServer) -> str:
    carrier = get_carrier(app)
    call = carrier.dial(from_=CALLER, to=MENU_NUMBER)
    call.wait_for_say("Welcome to Acme support")
    call.wait_for_say("press 2")
    call.press("2")
    call.wait_for_say("You chose option 2")
    assert call.wait_ended() == "completed"
    carrier.shutdown()  # joins the call threads: every callback has been delivered
    assert call.transcript == ["Welcome to Acme support.", "For sales press 1, for support press 2.",
                               "You chose option 2. Goodbye."]
    voice, = server.requests_to("/voice")
    assert voice.form["CallStatus"] == "ringing" and voice.form["Direction"] == "inbound"
    assert voice.form["From"] == CALLER and voice.form["To"] == MENU_NUMBER
    assert voice.form["AccountSid"] == app.config["SIM_ACCOUNT_SID"] and voice.form["ApiVersion"] == "2010-04-01"
    menu_hit, = server.requests_to("/menu")
    assert menu_hit.form["Digits"] == "2" and menu_hit.form["CallSid"] == call.sid
    assert menu_hit.form["CallStatus"] == "in-progress"
    assert all(hit.signed for hit in server.hits), "every webhook carries a valid X-Twilio-Signature"
    return call.sid


def test_caller_hears_menu_presses_key_and_callbacks_arrive_in_order(app: Flask, product: TwimlServer) -> None:
    with strict_carrier(get_carrier(app)):
        sid = place_menu_call(app, product)
    statuses = [hit.form["CallStatus"] for hit in product.requests_to("/status")]
    assert statuses == ["initiated", "ringing", "in-progress", "completed"]
    callbacks = product.requests_to("/status")
    assert [int(hit.form["SequenceNumber"]) for hit in callbacks] == [0, 1, 2, 3]
    assert all(hit.form["CallSid"] == sid and hit.form["CallbackSource"] == "call-progress-events"
               for hit in callbacks)
    completed = callbacks[-1].form
    assert completed["CallDuration"].isdigit() and "Timestamp" in completed


def test_same_call_with_duplicated_and_reordered_callbacks(app: Flask, product: TwimlServer) -> None:
    carrier = get_carrier(app)
    carrier.faults.duplicate_status_callbacks = 1
    carrier.faults.reorder_status_callbacks = True
    with strict_carrier(carrier):
        place_menu_call(app, product)
    statuses = [hit.form["CallStatus"] for hit in product.requests_to("/status")]
    assert sorted(statuses) == sorted(["initiated", "ringing", "in-progress", "completed"] * 2)
    assert statuses.index("completed") < statuses.index("ringing"), statuses  # reordered
    sequence = [hit.form["SequenceNumber"] for hit in product.requests_to("/status")]
    assert len(set(sequence)) == 4 and len(sequence) == 8  # each callback delivered twice, same SequenceNumber
    completed = [hit.form for hit in product.requests_to("/status") if hit.form["CallStatus"] == "completed"]
    assert all("CallDuration" in form for form in completed)
