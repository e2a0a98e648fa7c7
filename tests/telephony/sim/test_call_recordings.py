"""The emulator's call recordings: started, paused, resumed and stopped over Twilio's REST resource, answered in
Twilio's schema, with recording status callbacks and media that the product's provider can fetch."""

from __future__ import annotations

import json

import pytest
from openapi_schema_validator import OAS30Validator

from callcenter.telephony.base import TelephonyError
from callcenter.telephony.twilio_provider import TwilioProvider
from tests.support.servers import wait_until
from tests.telephony.sim.conftest import CALLER, Sim
from tests.telephony.sim.test_contract import RecordingHttpClient, doc, operation_schema, spec

__all__ = ["spec"]


def _provider(sim: Sim, http) -> TwilioProvider:
    return TwilioProvider(account_sid=sim.carrier.account_sid, auth_token=sim.carrier.auth_token,
                          http_client=http, base_url="http://localhost/sim")


def test_a_recording_is_paused_resumed_and_stopped_with_its_callbacks(sim: Sim, spec) -> None:
    http = RecordingHttpClient(sim.app)
    provider = _provider(sim, http)
    number = sim.number("/voice")
    sim.server.route("/voice", doc('<Pause length="60"/>'))
    caller = sim.carrier.dial(CALLER, number)
    wait_until(lambda: sim.carrier.calls[caller.sid].answered, message="call answered")

    started = provider.start_recording(caller.sid, status_callback=sim.server.url("/recording"))
    assert started.status == "in-progress" and started.call_sid == caller.sid
    assert provider.set_recording_status(caller.sid, started.sid, "paused").status == "paused"
    assert provider.set_recording_status(caller.sid, "Twilio.CURRENT", "in-progress").status == "in-progress"
    assert provider.set_recording_status(caller.sid, started.sid, "stopped").status == "stopped"

    # Each callback is sent from a thread of its own, so they may arrive in either order (as Twilio's may).
    wait_until(lambda: len(sim.server.requests_to("/recording")) >= 2, message="both recording callbacks")
    hits = [h for h in sim.server.requests_to("/recording") if h.form["RecordingStatus"] == "completed"]
    assert all(h.signed for h in sim.server.requests_to("/recording"))
    assert sorted(h.form["RecordingStatus"] for h in sim.server.requests_to("/recording")) == ["completed",
                                                                                              "in-progress"]
    completed = hits[0].form
    assert completed["RecordingSid"] == started.sid and completed["CallSid"] == caller.sid
    assert completed["RecordingSource"] == "StartCallRecordingAPI" and completed["RecordingDuration"].isdigit()

    media = provider.recording_media(completed["RecordingUrl"])
    assert media.content_type == "audio/wav" and media.content.startswith(b"RIFF")
    with pytest.raises(TelephonyError) as ended:
        provider.set_recording_status(caller.sid, started.sid, "paused")
    assert ended.value.status == 400
    caller.hangup()

    validated = 0
    for method, url, status, body in http.exchanges:
        if status < 400:
            OAS30Validator(operation_schema(spec, method, url, status)).validate(json.loads(body))
            validated += 1
    assert validated == 4


def test_a_recording_ends_with_its_call_and_a_ringing_call_cannot_be_recorded(sim: Sim) -> None:
    provider = _provider(sim, RecordingHttpClient(sim.app))
    number = sim.number("/voice")
    sim.server.route("/voice", doc('<Pause length="60"/>'))
    caller = sim.carrier.dial(CALLER, number)
    wait_until(lambda: sim.carrier.calls[caller.sid].answered, message="call answered")
    started = provider.start_recording(caller.sid, status_callback=sim.server.url("/recording"),
                                       status_callback_events=("completed",))
    caller.hangup()
    [hit] = wait_until(lambda: sim.server.requests_to("/recording"), message="completed callback")
    assert hit.form["RecordingSid"] == started.sid and hit.form["RecordingStatus"] == "completed"
    with pytest.raises(TelephonyError) as refused:
        provider.start_recording(caller.sid, status_callback=sim.server.url("/recording"))
    assert refused.value.status == 400
    # The provider's credentials go to its own API host only, whatever a stored URL says.
    with pytest.raises(TelephonyError, match="not a recording of this carrier"):
        provider.recording_media("https://example.com/evil")
