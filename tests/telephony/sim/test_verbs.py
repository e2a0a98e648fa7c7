"""Each TwiML verb the emulator executes, driven by an emulated caller against a tiny TwiML server."""

from __future__ import annotations

import pytest

from tests.telephony.sim.conftest import CALLER, Sim


def doc(body: str) -> str:
    return f'<?xml version="1.0" encoding="UTF-8"?><Response>{body}</Response>'


@pytest.mark.parametrize(
    ("body", "transcript", "final_status"),
    [
        ("<Say>Hello there</Say>", ["Hello there"], "completed"),
        ('<Say loop="3">Again</Say>', ["Again", "Again", "Again"], "completed"),
        ("<Play>http://cdn.example.com/hello.mp3</Play>", ["http://cdn.example.com/hello.mp3"], "completed"),
        ('<Play loop="2">/audio/x.mp3</Play>', ["http://localhost/audio/x.mp3"] * 2, "completed"),
        ('<Play digits="12#"/>', ["digits:12#"], "completed"),
        ('<Pause length="2"/><Say>After the pause</Say>', ["After the pause"], "completed"),
        ("<Say>Bye</Say><Hangup/><Say>never said</Say>", ["Bye"], "completed"),
        ('<Reject reason="busy"/>', [], "busy"),
        ("<Reject/>", [], "busy"),
        ("<Redirect>/t/next</Redirect>", ["Redirected here"], "completed"),
        ('<Redirect method="GET">next</Redirect>', ["Redirected here"], "completed"),
    ],
)
def test_simple_verbs(sim: Sim, body: str, transcript: list[str], final_status: str) -> None:
    sim.server.route("/voice", doc(body))
    sim.server.route("/next", doc("<Say>Redirected here</Say>"))
    call = sim.carrier.dial(CALLER, sim.number("/voice"))
    assert call.wait_ended() == final_status
    assert call.transcript == transcript
    if "GET" in body:
        assert sim.server.requests_to("/next")[0].method == "GET"
        assert sim.server.requests_to("/next")[0].signed


def test_reject_never_answers(sim: Sim) -> None:
    sim.server.route("/voice", doc("<Reject/>"))
    call = sim.carrier.dial(CALLER, sim.number("/voice", status_events=("answered", "completed")))
    call.wait_ended()
    sim.carrier.shutdown()
    statuses = [hit.form["CallStatus"] for hit in sim.server.requests_to("/status")]
    assert statuses == ["busy"]
    assert not any(e["type"] == "answered" for e in call.events)


@pytest.mark.parametrize(
    ("gather", "keys", "expected"),
    [
        ('numDigits="3"', "123", {"Digits": "123"}),
        ('numDigits="2"', "789", {"Digits": "78"}),
        ("", "45#", {"Digits": "45", "FinishedOnKey": "#"}),
        ('finishOnKey="*"', "9*", {"Digits": "9", "FinishedOnKey": "*"}),
        ('finishOnKey=""', "5", {"Digits": "5"}),
    ],
)
def test_gather_digits(sim: Sim, gather: str, keys: str, expected: dict[str, str]) -> None:
    sim.server.route("/voice", doc(f'<Gather action="/t/got" timeout="2" {gather}><Say>Enter</Say></Gather>'))
    sim.server.route("/got", lambda form: doc(f"<Say>Got {form['Digits']}</Say>"))
    call = sim.carrier.dial(CALLER, sim.number("/voice"))
    call.press(keys)
    call.wait_for_say("Got")
    call.wait_ended()
    got, = sim.server.requests_to("/got")
    assert {k: got.form[k] for k in expected} == expected
    assert "FinishedOnKey" in got.form or "FinishedOnKey" not in expected


def test_gather_speech_gives_speech_result_and_confidence(sim: Sim) -> None:
    sim.server.route("/voice", doc('<Gather input="speech dtmf" action="/t/got" speechTimeout="auto">'
                                   "<Say>How can we help?</Say></Gather>"))
    sim.server.route("/got", doc("<Hangup/>"))
    call = sim.carrier.dial(CALLER, sim.number("/voice"))
    call.say("I want to pay my bill")
    call.wait_ended()
    got, = sim.server.requests_to("/got")
    assert got.form["SpeechResult"] == "I want to pay my bill" and got.form["Confidence"] == "0.9"
    assert "Digits" not in got.form


def test_gather_without_input_falls_through_or_posts_empty(sim: Sim) -> None:
    sim.server.route("/voice", doc('<Gather action="/t/got" timeout="1"><Say>Choose</Say></Gather>'
                                   "<Say>No input</Say>"))
    call = sim.carrier.dial(CALLER, sim.number("/voice"))
    call.wait_ended()
    assert call.transcript == ["Choose", "No input"]
    assert sim.server.requests_to("/got") == []

    sim.server.route("/voice", doc('<Gather action="/t/got" timeout="1" actionOnEmptyResult="true"/>'))
    sim.server.route("/got", doc("<Say>Empty</Say>"))
    call = sim.carrier.dial(CALLER, sim.number("/voice"))
    call.wait_ended()
    assert call.transcript == ["Empty"]
    assert sim.server.requests_to("/got")[0].form.get("Digits") == ""


def test_gather_default_action_is_the_current_document(sim: Sim) -> None:
    sim.server.route("/voice", lambda form: doc(f"<Say>Digits {form['Digits']}</Say>") if "Digits" in form
                     else doc('<Gather numDigits="1" timeout="5"><Say>Press</Say></Gather>'))
    call = sim.carrier.dial(CALLER, sim.number("/voice"))
    call.press("7")
    call.wait_for_say("Digits 7")
    call.wait_ended()


def test_digits_outside_a_gather_are_not_heard(sim: Sim) -> None:
    sim.server.route("/voice", doc('<Pause length="1"/><Gather numDigits="1" action="/t/got" timeout="1"/>'))
    call = sim.carrier.dial(CALLER, sim.number("/voice"))
    call.wait_for("pause")
    call.press("5", wait=False)  # during the pause: Twilio drops it
    call.wait_ended()
    assert sim.server.requests_to("/got") == []


def test_record_posts_recording_to_action_and_transcribes(sim: Sim) -> None:
    sim.server.route("/voice", doc('<Say>Leave a message</Say><Record action="/t/recorded" maxLength="60" '
                                   'transcribe="true" transcribeCallback="/t/transcript" '
                                   'recordingStatusCallback="/t/recording-status"/>'))
    sim.server.route("/recorded", doc("<Say>Thanks</Say>"))
    call = sim.carrier.dial(CALLER, sim.number("/voice"))
    call.record(seconds=7, text="please call me back")
    call.wait_for_say("Thanks")
    call.wait_ended()
    sim.carrier.shutdown()
    recorded, = sim.server.requests_to("/recorded")
    assert recorded.form["RecordingDuration"] == "7" and recorded.form["RecordingSid"].startswith("RE")
    url = recorded.form["RecordingUrl"]
    assert url.startswith("http://localhost/sim/2010-04-01/Accounts/")
    media = sim.app.test_client().get(url)
    assert media.status_code == 200 and media.mimetype == "audio/wav" and len(media.data) > 7 * 8000
    transcript, = sim.server.requests_to("/transcript")
    assert transcript.form["TranscriptionText"] == "please call me back"
    assert transcript.form["RecordingSid"] == recorded.form["RecordingSid"]
    status, = sim.server.requests_to("/recording-status")
    assert status.form["RecordingStatus"] == "completed"
    assert any(e["type"] == "beep" for e in call.events)


def test_record_ends_on_finish_key_and_silent_record_goes_on(sim: Sim) -> None:
    sim.server.route("/voice", doc('<Record action="/t/recorded" finishOnKey="#" timeout="10"/>'))
    sim.server.route("/recorded", doc("<Hangup/>"))
    call = sim.carrier.dial(CALLER, sim.number("/voice"))
    call.say("hello this is a message")
    call.press("#")
    call.wait_ended()
    recorded, = sim.server.requests_to("/recorded")
    assert recorded.form["Digits"] == "#" and int(recorded.form["RecordingDuration"]) >= 1

    sim.server.route("/voice", doc('<Record action="/t/silent" timeout="1" playBeep="false"/><Say>Nothing</Say>'))
    call = sim.carrier.dial(CALLER, sim.number("/voice"))
    call.wait_ended()
    assert call.transcript == ["Nothing"] and sim.server.requests_to("/silent") == []


def test_caller_hanging_up_during_record_still_delivers_the_message(sim: Sim) -> None:
    sim.server.route("/voice", doc('<Record action="/t/recorded" timeout="30"/>'))
    call = sim.carrier.dial(CALLER, sim.number("/voice"))
    call.say("my order never arrived")
    call.hangup()
    sim.carrier.shutdown()
    recorded, = sim.server.requests_to("/recorded")
    assert recorded.form["Digits"] == "hangup"


@pytest.mark.parametrize(("answer", "dial_status"), [("busy", "busy"), ("no-answer", "no-answer"),
                                                     ("failed", "failed")])
def test_dial_number_unanswered(sim: Sim, answer: str, dial_status: str) -> None:
    sim.carrier.phone("+15105550111", answer=answer)
    sim.server.route("/voice", doc('<Dial action="/t/dialed" timeout="3">+15105550111</Dial>'))
    sim.server.route("/dialed", lambda form: doc(f"<Say>Result {form['DialCallStatus']}</Say>"))
    call = sim.carrier.dial(CALLER, sim.number("/voice"))
    call.wait_for_say(f"Result {dial_status}")
    call.wait_ended()


def test_dial_number_bridges_both_ways_and_reports_duration(sim: Sim) -> None:
    callee = sim.carrier.answering_phone("+15105550122")
    sim.server.route("/voice", doc('<Dial action="/t/dialed" callerId="+18005550100" record="record-from-answer">'
                                   '<Number statusCallback="/t/leg" statusCallbackEvent="initiated answered '
                                   'completed">+15105550122</Number></Dial>'))
    sim.server.route("/dialed", doc("<Say>Call over</Say>"))
    call = sim.carrier.dial(CALLER, sim.number("/voice"))
    leg = callee.wait_for_incoming()
    assert leg.call.from_ == "+18005550100" and leg.call.parent_call_sid == call.sid
    leg.answer()
    call.wait_for("bridged")
    call.say("hello callee")
    leg.wait_for(lambda e: e["type"] == "heard" and e["text"] == "hello callee")
    leg.say("hello caller")
    call.wait_for(lambda e: e["type"] == "heard" and e["text"] == "hello caller")
    leg.hangup()
    call.wait_for_say("Call over")
    call.wait_ended()
    sim.carrier.shutdown()
    dialed, = sim.server.requests_to("/dialed")
    assert dialed.form["DialCallStatus"] == "completed" and dialed.form["DialCallSid"] == leg.sid
    assert dialed.form["DialCallDuration"].isdigit() and "RecordingUrl" in dialed.form
    leg_statuses = [hit.form["CallStatus"] for hit in sim.server.requests_to("/leg")]
    assert leg_statuses == ["initiated", "in-progress", "completed"]
    assert sim.server.requests_to("/leg")[0].form["Direction"] == "outbound-dial"


def test_caller_hangup_ends_the_dialed_leg(sim: Sim) -> None:
    callee = sim.carrier.answering_phone("+15105550133")
    sim.server.route("/voice", doc("<Dial>+15105550133</Dial>"))
    call = sim.carrier.dial(CALLER, sim.number("/voice"))
    leg = callee.wait_for_incoming()
    leg.answer()
    call.wait_for("bridged")
    call.hangup()
    assert leg.wait_ended() == "completed"


def test_dial_client_rings_registered_identity_and_accept_bridges(sim: Sim) -> None:
    agent = sim.carrier.client("agent_7")
    sim.server.route("/voice", doc('<Dial action="/t/dialed" timeout="20"><Client>agent_7</Client></Dial>'))
    sim.server.route("/dialed", lambda form: doc(f"<Say>Dial {form['DialCallStatus']}</Say>"))
    call = sim.carrier.dial(CALLER, sim.number("/voice"))
    ringing = agent.wait_for_incoming()
    assert ringing.call.to == "client:agent_7" and ringing.call.from_ == CALLER
    agent.accept()
    call.wait_for("bridged")
    agent.hangup()
    call.wait_for_say("Dial completed")
    call.wait_ended()


def test_client_reject_gives_busy(sim: Sim) -> None:
    agent = sim.carrier.client("agent_8")
    sim.server.route("/voice", doc('<Dial action="/t/dialed"><Client><Identity>agent_8</Identity>'
                                   '<Parameter name="queue" value="sales"/></Client></Dial>'))
    sim.server.route("/dialed", lambda form: doc(f"<Say>Dial {form['DialCallStatus']}</Say>"))
    call = sim.carrier.dial(CALLER, sim.number("/voice"))
    ringing = agent.wait_for_incoming()
    assert ringing.call.custom_params == {"queue": "sales"}
    agent.reject()
    call.wait_for_say("Dial busy")


def test_enqueue_wait_url_loop_and_leave(sim: Sim) -> None:
    loops = []

    def wait(form: dict[str, str]) -> str:
        loops.append(form)
        if len(loops) >= 3:
            return doc("<Say>Leaving the queue</Say><Leave/>")
        return doc(f"<Say>You are number {form['QueuePosition']}</Say><Pause length=\"1\"/>")

    sim.server.route("/voice", doc('<Enqueue waitUrl="/t/wait" action="/t/left">support</Enqueue>'))
    sim.server.route("/wait", wait)
    sim.server.route("/left", lambda form: doc(f"<Say>Queue result {form['QueueResult']}</Say>"))
    call = sim.carrier.dial(CALLER, sim.number("/voice"))
    call.wait_for_say("Queue result leave")
    call.wait_ended()
    assert [form["QueuePosition"] for form in loops] == ["1", "1", "1"]
    assert {"QueueTime", "AvgQueueTime", "CurrentQueueSize", "QueueSid"} <= set(loops[0])
    assert sim.carrier.queues["support"].members == []


def test_rest_redirect_moves_an_enqueued_caller_into_a_conference(sim: Sim) -> None:
    from twilio.rest import Client

    from callcenter.telephony.sim.wsgi_http import WsgiHttpClient

    client = Client(sim.carrier.account_sid, sim.carrier.auth_token, http_client=WsgiHttpClient(sim.app))
    client.api.base_url = "http://localhost/sim"
    sim.server.route("/voice", doc('<Enqueue waitUrl="/t/wait" action="/t/left">support</Enqueue>'))
    sim.server.route("/wait", doc('<Play loop="0">http://cdn.example.com/music.mp3</Play>'))
    sim.server.route("/bridge", doc('<Dial><Conference endConferenceOnExit="true">room-1</Conference></Dial>'))
    call = sim.carrier.dial(CALLER, sim.number("/voice"))
    call.wait_for("enqueued")
    call.wait_for("play")
    updated = client.api.v2010.accounts(sim.carrier.account_sid).calls(call.sid).update(
        url=sim.server.url("/bridge"), method="POST")
    assert updated.status == "in-progress"
    call.wait_for(lambda e: e["type"] == "conference" and e["event"] == "joined")
    left, = sim.server.requests_to("/left")
    assert left.form["QueueResult"] == "redirected"
    assert sim.carrier.queues["support"].members == []
    conference = sim.carrier.conference("room-1")
    assert conference is not None and [p.call.sid for p in conference.active()] == [call.sid]
    call.hangup()
    assert sim.carrier.conference("room-1").status == "completed"


def test_dial_queue_dequeues_the_first_caller(sim: Sim) -> None:
    sim.server.route("/voice", doc('<Enqueue action="/t/after">sales</Enqueue>'))
    sim.server.route("/after", lambda form: doc(f"<Say>Result {form['QueueResult']}</Say>"))
    sim.server.route("/agent", doc('<Dial action="/t/agent-done"><Queue url="/t/announce">sales</Queue></Dial>'))
    sim.server.route("/announce", doc("<Say>Connecting you to an agent</Say>"))
    sim.server.route("/agent-done", lambda form: doc(f"<Say>Agent dial {form['DialCallStatus']}</Say>"))
    number = sim.number("/voice")
    first = sim.carrier.dial(CALLER, number)
    first.wait_for("enqueued")
    second = sim.carrier.dial("+14155550101", number)
    second.wait_for("enqueued")
    sim.carrier.add_number("+18005550177", sim.server.url("/agent"))
    agent = sim.carrier.dial("+14155550999", "+18005550177")
    first.wait_for_say("Connecting you to an agent")
    agent.wait_for("bridged")
    agent.say("how can I help")
    first.wait_for(lambda e: e["type"] == "heard" and e["text"] == "how can I help")
    agent.hangup()
    first.wait_for_say("Result bridged")
    assert [m.call.sid for m in sim.carrier.queues["sales"].members] == [second.sid]
    second.hangup()


def test_conference_two_callers_talk_hold_and_mute(sim: Sim) -> None:
    from twilio.rest import Client

    from callcenter.telephony.sim.wsgi_http import WsgiHttpClient

    client = Client(sim.carrier.account_sid, sim.carrier.auth_token, http_client=WsgiHttpClient(sim.app))
    client.api.base_url = "http://localhost/sim"
    sim.server.route("/voice", lambda form: doc(
        f'<Dial><Conference participantLabel="{"customer" if form["From"] == CALLER else "agent"}" '
        f'statusCallback="/t/conf" statusCallbackEvent="start end join leave hold mute" '
        f'waitUrl="">room-9</Conference></Dial><Say>After the conference</Say>'))
    number = sim.number("/voice")
    customer = sim.carrier.dial(CALLER, number)
    customer.wait_for(lambda e: e["type"] == "conference")
    agent = sim.carrier.dial("+14155550102", number)
    agent.wait_for(lambda e: e["type"] == "conference")
    conference = sim.carrier.conference("room-9")
    assert conference.status == "in-progress" and len(conference.active()) == 2
    customer.say("hi agent")
    agent.wait_for(lambda e: e.get("text") == "hi agent")
    rest_conf = client.api.v2010.accounts(sim.carrier.account_sid).conferences(conference.sid)
    rest_conf.participants("customer").update(hold=True)
    customer.wait_for("play")  # hold music
    agent.say("can you hear me")
    rest_conf.participants("customer").update(hold=False, muted=True)
    customer.say("I am muted")
    agent.say("now you can")
    customer.wait_for(lambda e: e.get("text") == "now you can")
    assert "can you hear me" not in customer.heard and "I am muted" not in agent.heard
    rest_conf.participants(agent.sid).delete()
    agent.wait_for_say("After the conference")  # a kicked participant goes on after <Dial>
    assert conference.status == "in-progress" and [p.call.sid for p in conference.active()] == [customer.sid]
    customer.hangup()
    assert conference.status == "completed" and conference.reason_conference_ended == "last-participant-left"
    sim.carrier.shutdown()
    events = [hit.form["StatusCallbackEvent"] for hit in sim.server.requests_to("/conf")]
    assert events[:3] == ["participant-join", "conference-start", "participant-join"]
    assert {"participant-hold", "participant-unhold", "participant-mute", "participant-leave",
            "conference-end"} <= set(events)


def test_coaching_is_heard_only_by_the_coached_participant(sim: Sim) -> None:
    sim.server.route("/voice", doc('<Dial><Conference waitUrl="">coach-room</Conference></Dial>'))
    number = sim.number("/voice")
    customer = sim.carrier.dial(CALLER, number)
    agent = sim.carrier.dial("+14155550103", number)
    customer.wait_for("conference")
    agent.wait_for("conference")
    conference = sim.carrier.conference("coach-room")
    supervisor = sim.carrier.client("supervisor_1")
    participant = sim.carrier.add_participant(conference.sid, from_=number, to="client:supervisor_1",
                                              coaching=True, call_sid_to_coach=agent.sid, label="coach")
    supervisor.accept()
    sup = supervisor.current
    sup.wait_for("conference")
    assert participant.status == "connected"
    sup.say("offer the discount")
    agent.wait_for(lambda e: e.get("text") == "offer the discount")
    customer.say("so what now")
    sup.wait_for(lambda e: e.get("text") == "so what now")
    assert "offer the discount" not in customer.heard
    sim.carrier.update_participant(conference.sid, "coach", {"coaching": False})
    sup.say("hello everyone")
    customer.wait_for(lambda e: e.get("text") == "hello everyone")


def test_outbound_rest_call_to_a_client_runs_its_url_when_accepted(sim: Sim) -> None:
    agent = sim.carrier.client("agent_9")
    sim.server.route("/outbound", doc("<Say>Connecting your callback</Say>"))
    call = sim.carrier.place_call(to="client:agent_9", from_=sim.number("/voice"),
                                  url=sim.server.url("/outbound"), status_callback=sim.server.url("/status"),
                                  status_callback_events=["initiated", "ringing", "answered", "completed"])
    ringing = agent.wait_for_incoming()
    assert ringing.sid == call.sid
    agent.accept()
    ringing.wait_for_say("Connecting your callback")
    ringing.wait_ended()
    sim.carrier.shutdown()
    assert [h.form["CallStatus"] for h in sim.server.requests_to("/status")] == [
        "initiated", "ringing", "in-progress", "completed"]
    assert sim.server.requests_to("/outbound")[0].form["Direction"] == "outbound-api"


def test_client_connect_posts_the_app_voice_url_with_params(sim: Sim) -> None:
    agent = sim.carrier.client("agent_5")
    sim.server.route("/client", lambda form: doc(f"<Say>Calling {form['To']}</Say>"))
    handle = agent.connect({"To": "+15105550144", "ContactId": "42"})
    handle.wait_for_say("Calling +15105550144")
    hit, = sim.server.requests_to("/client")
    assert hit.form["From"] == "client:agent_5" and hit.form["ContactId"] == "42"
    assert hit.form["Direction"] == "inbound"
