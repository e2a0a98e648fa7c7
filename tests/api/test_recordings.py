"""/api/v1/recordings: only the agent who handled the call, their team's supervisor and admins read or play a
recording; anyone else gets 403 and the refused attempt is in the audit log."""

from __future__ import annotations

from sqlalchemy import select

from callcenter.models import AuditEntry, Recording
from tests.api.conftest import assert_error


def _recording(session, factory, agent) -> Recording:
    call = factory.call(agent_id=agent.id)
    recording = Recording(recording_sid="RE" + "a" * 32, call_sid=call.call_sid, call_id=call.id, agent_id=agent.id,
                          status="completed", duration_seconds=42,
                          media_url="https://api.twilio.com/2010-04-01/Accounts/AC1/Recordings/RE1")
    session.add(recording)
    session.commit()
    return recording


def test_an_agent_cannot_play_another_teams_recording(client, session, factory, bearer):
    alice = factory.user(team="Red")
    bob = factory.user(team="Blue")
    recording = _recording(session, factory, alice)

    refused = client.get(f"/api/v1/recordings/{recording.id}/audio", headers=bearer(bob))

    assert_error(refused, 403)
    session.expire_all()
    [entry] = session.scalars(select(AuditEntry).where(AuditEntry.action == "recording.access_refused")).all()
    assert (entry.actor_id, entry.entity_type, entry.entity_id) == (bob.id, "Recording", str(recording.id))
    assert entry.details["purpose"] == "play"
    assert session.scalar(select(AuditEntry).where(AuditEntry.action == "recording.played")) is None
    listed = client.get("/api/v1/recordings", headers=bearer(bob)).get_json()
    assert listed["items"] == [] and listed["total"] == 0
    assert_error(client.get(f"/api/v1/recordings/{recording.id}", headers=bearer(bob)), 403)


def test_the_agent_their_teams_supervisor_and_admins_may_read_it(client, session, factory, bearer, admin):
    alice = factory.user(team="Red")
    red_lead = factory.user("supervisor", team="Red")
    blue_lead = factory.user("supervisor", team="Blue")
    recording = _recording(session, factory, alice)

    for reader in (alice, red_lead, admin):
        shown = client.get(f"/api/v1/recordings/{recording.id}", headers=bearer(reader))
        assert shown.status_code == 200, (reader.role, shown.get_json())
        assert shown.get_json()["duration_seconds"] == 42 and "twilio.com" not in shown.get_data(as_text=True)
        assert [r["id"] for r in client.get("/api/v1/recordings", headers=bearer(reader)).get_json()["items"]] \
            == [recording.id]
    assert_error(client.get(f"/api/v1/recordings/{recording.id}/audio", headers=bearer(blue_lead)), 403)


def test_notes_at_moments_of_a_recording(client, session, factory, bearer):
    alice = factory.user(team="Red")
    recording = _recording(session, factory, alice)
    url = f"/api/v1/recordings/{recording.id}/notes"

    added = client.post(url, json={"offset_seconds": 12, "body": "Order number given"}, headers=bearer(alice))
    assert added.status_code == 201 and added.get_json()["offset_seconds"] == 12
    assert_error(client.post(url, json={"offset_seconds": 43, "body": "after the end"}, headers=bearer(alice)),
                 422, "offset_seconds")
    notes = client.get(f"/api/v1/recordings/{recording.id}", headers=bearer(alice)).get_json()["notes"]
    assert [(n["offset_seconds"], n["body"]) for n in notes] == [(12, "Order number given")]


def test_recordings_are_in_the_openapi_document(client):
    paths = client.get("/api/v1/openapi.json").get_json()["paths"]
    assert {"/api/v1/recordings", "/api/v1/recordings/{recording_id}", "/api/v1/recordings/{recording_id}/audio",
            "/api/v1/recordings/{recording_id}/notes"} <= set(paths)
    assert "audio/wav" in paths["/api/v1/recordings/{recording_id}/audio"]["get"]["responses"]["200"]["content"]
