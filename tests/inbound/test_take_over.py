"""Take over through the emulated carrier: a supervisor listening to their agent's call takes it — the carrier's
conference then holds the caller and the supervisor, unmuted, and no longer the agent, who is in wrap-up and told
who took the call; the call is the supervisor's to hang up. Audited."""

from __future__ import annotations

from sqlalchemy import select

from callcenter.models import AuditEntry
from callcenter.services import agent_state
from callcenter.services import auth as auth_service
from callcenter.services.interactions import agent_identity, conference_name, interaction
from tests.inbound.conftest import NUMBER
from tests.inbound.test_inbound_calls import _available, _wait_for_event
from tests.realtime.conftest import received
from tests.support.servers import wait_until


def _headers(session, user) -> dict[str, str]:
    token = auth_service.issue_api_token(session, user, "test", actor_id=None)
    session.commit()
    return {"Authorization": f"Bearer {token}"}


def _in_room(sim_carrier, room: str) -> dict:
    conference = sim_carrier.conference(room)
    return {p.call.sid: p for p in conference.active()} if conference else {}


def _answered_call(console, sim_carrier, agent, number: str):
    """A caller for Billing, answered by `agent`'s softphone: (caller, agent's leg, agent's socket, room)."""
    agent_phone = sim_carrier.client(agent_identity(agent.id))
    sock = _available(console, agent)
    caller = sim_carrier.dial(number, NUMBER)
    caller.wait_for_say("For billing")
    caller.press("3")
    [offer] = _wait_for_event(sock, "offer")
    sock.emit("offer_ack", {"call_sid": offer["call_sid"]}, namespace="/agent", callback=True)
    agent_phone.wait_for_incoming()
    agent_leg = agent_phone.accept()
    room = conference_name(caller.sid)
    wait_until(lambda: len(_in_room(sim_carrier, room)) == 2, message="caller and agent bridged")
    return caller, agent_leg, sock, room


def test_a_listening_supervisor_takes_over_and_the_agent_leaves_the_conference(
        session, factory, console, sim_carrier, redis_client, line, client):
    amy = factory.user(skills={"billing": 5}, username="amy", team="Floor")
    sam = factory.user("supervisor", username="sam", team="Floor")
    sam.full_name = "Sam Supervisor"
    session.commit()
    headers = _headers(session, sam)
    boss_phone = sim_carrier.client(agent_identity(sam.id))
    caller, agent_leg, sock, room = _answered_call(console, sim_carrier, amy, "+14155550401")

    listened = client.post(f"/api/v1/calls/{caller.sid}/monitor", json={"mode": "listen"}, headers=headers)
    assert listened.status_code == 200, listened.get_data(as_text=True)
    boss_phone.wait_for_incoming()
    boss_phone.accept()
    boss_sid = listened.get_json()["supervisor_call_sid"]
    wait_until(lambda: boss_sid in _in_room(sim_carrier, room), message="supervisor listening")
    assert _in_room(sim_carrier, room)[boss_sid].muted

    taken = client.post(f"/api/v1/calls/{caller.sid}/take-over", headers=headers)

    assert taken.status_code == 200, taken.get_data(as_text=True)
    assert taken.get_json()["agent_id"] == amy.id
    wait_until(lambda: agent_leg.sid not in _in_room(sim_carrier, room), message="the agent's leg left")
    participants = _in_room(sim_carrier, room)
    assert set(participants) == {caller.sid, boss_sid}  # the caller and the supervisor, nobody else
    assert not participants[boss_sid].muted and not participants[boss_sid].coaching
    assert agent_state.get_presence(redis_client, amy.id).state == "wrap_up"
    assert agent_state.get_presence(redis_client, sam.id).state == "on_call"
    assert interaction(redis_client, caller.sid)["agent_id"] == sam.id
    ended = wait_until(lambda: [e for e in received(sock, "call") if e.get("status") == "ended"],
                       message="the agent's console told")
    assert ended[0]["taken_over_by"] == "Sam Supervisor"
    session.expire_all()
    assert session.scalar(select(AuditEntry).where(AuditEntry.action == "call.take_over")) is not None

    # The call is the supervisor's now: they hang it up, and wrap up.
    hung = client.post(f"/api/v1/calls/{caller.sid}/hangup", headers=headers)
    assert hung.status_code == 200, hung.get_data(as_text=True)
    wait_until(lambda: agent_state.get_presence(redis_client, sam.id).state == "wrap_up",
               message="the supervisor wraps up the call they took")


def test_an_agent_and_another_teams_supervisor_cannot_take_over(
        session, factory, console, sim_carrier, redis_client, line, client):
    amy = factory.user(skills={"billing": 5}, username="amy2", team="Floor")
    ann = factory.user(skills={"billing": 5}, username="ann2", team="Floor")
    sue = factory.user("supervisor", username="sue2", team="Elsewhere")
    caller, agent_leg, _, room = _answered_call(console, sim_carrier, amy, "+14155550402")

    assert client.post(f"/api/v1/calls/{caller.sid}/take-over",
                       headers=_headers(session, ann)).status_code == 403
    assert client.post(f"/api/v1/calls/{caller.sid}/take-over",
                       headers=_headers(session, sue)).status_code == 404

    assert set(_in_room(sim_carrier, room)) == {caller.sid, agent_leg.sid}
    assert agent_state.get_presence(redis_client, amy.id).state == "on_call"
    caller.hangup()
