"""Recordings through the emulated carrier: a queue that records plays the consent prompt, the call is recorded
from the agent's answer, the agent pauses and resumes it from the console API, and the recording status callback
(delivered twice) stores one recording with its duration and media URL; a voicemail's transcription lands on its
ticket, which is linked to the contact whose number called."""

from __future__ import annotations

from sqlalchemy import func, select

from callcenter.models import AuditEntry, Recording, Ticket, TicketEvent
from callcenter.services import auth as auth_service
from callcenter.services.interactions import agent_identity, conference_name
from tests.inbound.conftest import NUMBER
from tests.inbound.test_inbound_calls import DANA, _answer, _available, _dana_with_a_technical_problem, _wait_for_event
from tests.support.servers import wait_until


def _headers(session, user) -> dict[str, str]:
    token = auth_service.issue_api_token(session, user, "console", actor_id=None)
    session.commit()
    return {"Authorization": f"Bearer {token}"}


def _recording(session) -> Recording | None:
    session.expire_all()
    return session.scalar(select(Recording))


def test_a_recorded_queue_asks_consent_records_the_call_and_stores_the_callback_once(
        session, factory, console, sim_carrier, redis_client, line, client):
    line["Support"].recording_policy = "all"
    session.commit()
    alice = factory.user(skills={"support": 5}, username="alice")
    headers = _headers(session, alice)
    softphone = sim_carrier.client(agent_identity(alice.id))
    sock = _available(console, alice)

    caller = _dana_with_a_technical_problem(sim_carrier)
    caller.wait_for_say("This call may be recorded")

    [offer] = _wait_for_event(sock, "offer")
    _answer(sock, softphone, offer)
    wait_until(lambda: len(getattr(sim_carrier.conference(conference_name(caller.sid)), "participants", {}) or {})
               == 2, message="caller and agent in the conference")
    recording = wait_until(lambda: _recording(session), message="the recording started on the agent's answer")
    assert (recording.call_sid, recording.agent_id, recording.trigger) == (caller.sid, alice.id, "all")
    live = f"/api/v1/recordings/live/{caller.sid}"
    assert client.get(live, headers=headers).get_json()["status"] == "in-progress"
    # Another agent's console (a transfer target's) sees nothing to control, and may not control it.
    bob_headers = _headers(session, factory.user(username="bob_consult"))
    assert client.get(live, headers=bob_headers).get_json()["connected"] is False
    assert client.post(live, json={"action": "pause"}, headers=bob_headers).status_code == 403

    paused = client.post(live, json={"action": "pause"}, headers=headers)
    assert paused.status_code == 200, paused.get_json()
    assert paused.get_json()["status"] == "paused"
    assert sim_carrier.recordings[recording.recording_sid].status == "paused"
    resumed = client.post(live, json={"action": "resume"}, headers=headers)
    assert resumed.get_json()["status"] == "in-progress"
    assert sim_carrier.recordings[recording.recording_sid].status == "in-progress"
    assert client.post(live, json={"action": "start"}, headers=headers).status_code == 409  # policy all, running

    sim_carrier.faults.duplicate_status_callbacks = 1  # every callback from now on arrives twice
    caller.hangup()
    done = wait_until(lambda: (r := _recording(session)) is not None and r.status == "completed" and r,
                      message="the completed recording callback")
    completed = wait_until(lambda: len(found := [w for w in sim_carrier.webhook_log if w.kind == "recording"
                                                 and w.params.get("RecordingStatus") == "completed"]) == 2 and found,
                           message="the completed callback delivered twice")
    assert [w.status for w in completed] == [204, 204]  # delivered twice ...
    session.expire_all()
    assert session.scalar(select(func.count()).select_from(Recording)) == 1  # ... stored once
    assert done.duration_seconds == int(completed[0].params["RecordingDuration"])
    assert done.media_url == completed[0].params["RecordingUrl"] and done.completed_at is not None

    shown = client.get(f"/api/v1/recordings/{done.id}", headers=headers).get_json()
    assert shown["duration_seconds"] == done.duration_seconds and done.media_url not in str(shown)
    played = client.get(f"/api/v1/recordings/{done.id}/audio", headers=headers)
    assert played.status_code == 200 and played.mimetype == "audio/wav" and played.data.startswith(b"RIFF")
    assert session.scalar(select(func.count()).select_from(AuditEntry).where(
        AuditEntry.action == "recording.played", AuditEntry.actor_id == alice.id)) == 1


def test_a_queue_that_does_not_record_says_nothing_about_recording(session, factory, sim_carrier, line):
    caller = sim_carrier.dial(DANA, NUMBER)
    caller.wait_for_say("For sales, press 1")
    caller.press("1")
    caller.wait_for_say("in line")
    assert not any("recorded" in line for line in caller.transcript)
    caller.hangup()


def test_voicemail_transcription_lands_on_the_ticket_linked_to_the_callers_contact(session, factory, sim_carrier,
                                                                                   line):
    line["Support"].business_hours = {}  # closed every day
    session.commit()
    dana = factory.contact(phones=(DANA,), first_name="Dana")

    caller = sim_carrier.dial(DANA, NUMBER)
    caller.wait_for_say("closed")
    caller.record(seconds=3, text="Please call me about my invoice")
    caller.wait_for_say("Thank you")
    caller.wait_ended()

    def transcribed():
        session.expire_all()
        return session.scalar(select(TicketEvent).where(TicketEvent.kind == "transcription"))

    event = wait_until(transcribed, message="the transcription on the ticket")
    ticket = session.get(Ticket, event.ticket_id)
    assert event.body == "Please call me about my invoice"
    assert ticket.description.startswith("Please call me about my invoice")
    assert ticket.contact_id == dana.id
    message = session.scalar(select(Recording).where(Recording.trigger == "voicemail"))
    assert message.call_sid == caller.sid and f"/recordings/{message.id}/audio" in ticket.description
    assert message.media_url not in ticket.description  # the carrier's URL stays in the product
    hits = [w for w in sim_carrier.webhook_log if w.kind == "transcription"]
    assert [h.status for h in hits] == [204] and hits[0].url.endswith("/ivr/voicemail/transcription")
