"""The console and wallboard pages, and the API they use: token, wrap-up, timeline, forced states."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from callcenter.models import Callback, Disposition, Ticket
from callcenter.redis_conn import get_redis
from callcenter.services import agent_state


def _dispositions(session):
    session.add_all([Disposition(code="resolved", label="Resolved"), Disposition(code="old", label="Old",
                                                                               active=False)])
    session.commit()


def test_agents_land_on_the_console_and_supervisors_on_the_wallboard(client, auth, factory):
    factory.user(username="alice")
    factory.user(role="supervisor", username="sam")
    assert auth.login("alice").headers["Location"].endswith("/console")
    page = client.get("/console")
    assert page.status_code == 200 and b'id="offer-card"' in page.data
    assert b"/sim/static/twilio-sim.js" in page.data and b"vendor/socket.io.min.js" in page.data
    assert client.get("/wallboard").status_code == 403
    auth.logout()
    assert auth.login("sam").headers["Location"].endswith("/wallboard")
    assert client.get("/wallboard").status_code == 200


def test_pages_need_a_sign_in_and_assets_are_local(client):
    assert client.get("/console").status_code == 302
    assert client.get("/agent-ui/static/console.js").status_code == 200
    assert client.get("/favicon.ico").mimetype == "image/svg+xml"


def test_softphone_token_carries_the_agent_identity(client, auth, factory):
    alice = factory.user(username="alice")
    auth.login("alice")
    body = client.get("/api/v1/agent/token").get_json()
    assert body["identity"] == f"agent-{alice.id}" and body["mode"] == "sim" and body["token"].count(".") == 2


def test_console_config_lists_active_dispositions_and_colleagues(client, auth, factory, session):
    _dispositions(session)
    factory.user(username="alice", team="North")
    bob = factory.user(username="bob", team="North")
    factory.user(username="stan", team="South")  # another team: reached through its queues, not by name
    auth.login("alice")
    body = client.get("/api/v1/agent/config").get_json()
    assert [d["code"] for d in body["dispositions"]] == ["resolved"]
    assert [c["id"] for c in body["colleagues"]] == [bob.id]
    assert "+18005550100" in body["caller_ids"]


def test_wrap_up_needs_a_disposition_then_saves_notes_callback_and_ticket(client, auth, factory, session, app):
    _dispositions(session)
    alice = factory.user(username="alice")
    contact = factory.contact(phones=("+14155550100",))
    call = factory.call(agent_id=alice.id, contact_id=contact.id)
    auth.login("alice")
    url = f"/api/v1/calls/{call.call_sid}/wrap-up"

    missing = client.post(url, json={"notes": "x"})
    assert missing.status_code == 422 and missing.get_json()["field"] == "disposition"
    unknown = client.post(url, json={"disposition": "old"})
    assert unknown.status_code == 422 and unknown.get_json()["field"] == "disposition"
    past = client.post(url, json={"disposition": "resolved",
                                  "callback": {"due_at": "2001-01-01T10:00:00+00:00"}})
    assert past.status_code == 422 and past.get_json()["field"] == "callback.due_at"

    due = (datetime.now(UTC) + timedelta(hours=2)).replace(microsecond=0)
    ok = client.post(url, json={"disposition": "resolved", "notes": "Replaced router",
                                "callback": {"due_at": due.isoformat()},
                                "ticket": {"subject": "Ship router", "priority": "high"}})
    assert ok.status_code == 200, ok.get_json()
    body = ok.get_json()
    session.expire_all()
    callback = session.get(Callback, body["callback_id"])
    ticket = session.get(Ticket, body["ticket_id"])
    assert (callback.phone_e164, callback.due_at, callback.status) == ("+14155550100", due, "scheduled")
    assert (ticket.subject, ticket.priority, ticket.call_id, ticket.contact_id) == ("Ship router", "high", call.id,
                                                                                  contact.id)
    assert (call.notes, call.disposition.code) == ("Replaced router", "resolved")
    again = client.post(url, json={"disposition": "resolved"})
    assert again.status_code == 409
    assert session.scalar(select(Callback).where(Callback.id != callback.id)) is None


def test_only_the_agent_of_a_call_wraps_it_up(client, auth, factory, session):
    _dispositions(session)
    alice = factory.user(username="alice")
    factory.user(username="bob")
    call = factory.call(agent_id=alice.id)
    auth.login("bob")
    response = client.post(f"/api/v1/calls/{call.call_sid}/wrap-up", json={"disposition": "resolved"})
    assert response.status_code == 403


def test_timeline_merges_calls_notes_tickets_and_callbacks_newest_first(client, auth, factory, session):
    alice = factory.user(username="alice")
    contact = factory.contact(phones=("+14155550100",), owner_id=alice.id)
    old = datetime(2026, 1, 1, 9, tzinfo=UTC)
    factory.call(agent_id=alice.id, from_number="+14155550100", started_at=old, notes="Asked about pricing",
                 ended_at=old + timedelta(minutes=3))
    session.add(Ticket(subject="Invoice wrong", contact_id=contact.id))
    session.add(Callback(contact_id=contact.id, phone_e164="+14155550100", requested_at=old - timedelta(days=1),
                         due_at=old))
    session.commit()
    auth.login("alice")
    items = client.get(f"/api/v1/contacts/{contact.id}/timeline").get_json()["items"]
    assert [i["kind"] for i in items] == ["ticket", "note", "call", "callback"]
    assert items[1]["text"] == "Asked about pricing"
    factory.user(username="bob")
    auth.logout()
    auth.login("bob")
    assert client.get(f"/api/v1/contacts/{contact.id}/timeline").status_code == 404


def test_supervisor_forces_a_team_agents_state_but_not_another_teams(client, auth, factory, app):
    alice = factory.user(username="alice", team="Tier 1")
    zed = factory.user(username="zed", team="Tier 2")
    factory.user(role="supervisor", username="sam", team="Tier 1")
    r = get_redis(app)
    auth.login("sam")
    answer = client.post(f"/api/v1/agents/{alice.id}/state", json={"state": "away", "reason": "meeting"})
    assert answer.status_code == 200, answer.get_json()
    presence = agent_state.get_presence(r, alice.id)
    assert (presence.state, presence.reason) == ("away", "meeting")
    no_reason = client.post(f"/api/v1/agents/{alice.id}/state", json={"state": "away"})
    assert no_reason.status_code == 422 and no_reason.get_json()["field"] == "reason"
    assert client.post(f"/api/v1/agents/{zed.id}/state", json={"state": "available"}).status_code == 404


def test_agents_cannot_force_states_or_monitor(client, auth, factory):
    alice = factory.user(username="alice")
    factory.user(username="bob")
    auth.login("bob")
    assert client.post(f"/api/v1/agents/{alice.id}/state", json={"state": "available"}).status_code == 403
    # The role is checked before the call is looked up: no 409 "not live" tells an agent about a call.
    assert client.post("/api/v1/calls/CA123/monitor", json={"mode": "listen"}).status_code == 403
    assert client.delete("/api/v1/calls/CA123/monitor").status_code == 403


def test_call_control_on_a_call_that_is_not_live_is_a_conflict(client, auth, factory):
    factory.user(username="alice")
    auth.login("alice")
    response = client.post("/api/v1/calls/CA0000/hold", json={"on": True})
    assert response.status_code == 409 and response.get_json()["message"]
    bad = client.post("/api/v1/calls/CA0000/transfer", json={"kind": "warm"})
    assert bad.status_code == 422 and bad.get_json()["field"] == "target_agent_id"
