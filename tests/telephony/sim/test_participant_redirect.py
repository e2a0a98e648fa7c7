"""A leg created through the Conference Participants API can be redirected by REST, as on Twilio."""

from __future__ import annotations

from typing import Any

from twilio.rest import Client

from callcenter.telephony.sim.wsgi_http import WsgiHttpClient
from tests.telephony.sim.conftest import CALLER, NUMBER, Sim

AGENT = "+15105550123"
MOVED = ("<?xml version=\"1.0\" encoding=\"UTF-8\"?>"
         "<Response><Say>moved</Say><Dial><Conference>other</Conference></Dial></Response>")


def doc(body: str) -> str:
    return f'<?xml version="1.0" encoding="UTF-8"?><Response>{body}</Response>'


def rest_client(sim: Sim) -> Client:
    client = Client(sim.carrier.account_sid, sim.carrier.auth_token, http_client=WsgiHttpClient(sim.app))
    client.api.base_url = "http://localhost/sim"
    return client


def conference_event(event: str, name: str) -> Any:
    return lambda e: e["type"] == "conference" and e["event"] == event and e["name"] == name


def start_room(sim: Sim, client: Client, *, end_on_exit: bool) -> tuple[Any, Any, Any]:
    """A caller in room-a, then an agent phone added to it by the Participants API; returns both and the room."""
    sim.server.route("/voice", doc(
        '<Dial><Conference statusCallback="/t/conf" statusCallbackEvent="start end join leave" waitUrl="">'
        "room-a</Conference></Dial><Say>After the conference</Say>"))
    caller = sim.carrier.dial(CALLER, sim.number("/voice"))
    caller.wait_for(conference_event("joined", "room-a"))
    room = sim.carrier.conference("room-a")
    sim.carrier.phone(AGENT, answer="auto")
    created = client.api.v2010.accounts(sim.carrier.account_sid).conferences(room.sid).participants.create(
        from_=NUMBER, to=AGENT, label="agent",
        end_conference_on_exit=end_on_exit)
    leg = sim.carrier.handle(created.call_sid)
    leg.wait_for(conference_event("joined", "room-a"))
    assert sorted(p.call.sid for p in room.active()) == sorted([caller.sid, leg.sid])
    return caller, leg, room


def leave_events_for(sim: Sim, call_sid: str) -> list[str]:
    return [hit.form["FriendlyName"] for hit in sim.server.requests_to("/conf")
            if hit.form["StatusCallbackEvent"] == "participant-leave" and hit.form["CallSid"] == call_sid]


def test_redirected_participant_leaves_says_and_joins_another_conference(sim: Sim) -> None:
    client = rest_client(sim)
    caller, leg, room = start_room(sim, client, end_on_exit=False)

    updated = client.api.v2010.accounts(sim.carrier.account_sid).calls(leg.sid).update(twiml=MOVED)

    assert updated.status == "in-progress"
    leg.wait_for(conference_event("joined", "other"))
    kinds = [(e["type"], e.get("event"), e.get("name") or e.get("text")) for e in leg.events
             if e["type"] in ("conference", "say")]
    assert kinds == [("conference", "joined", "room-a"), ("conference", "left", "room-a"),
                     ("say", None, "moved"), ("conference", "joined", "other")]
    assert [p.call.sid for p in room.active()] == [caller.sid]
    assert room.status == "in-progress"  # the caller stays; no end-on-exit rule applied
    other = sim.carrier.conference("other")
    assert other is not None and [p.call.sid for p in other.active()] == [leg.sid]
    assert leg.status == "in-progress" and caller.status == "in-progress"
    assert leave_events_for(sim, leg.sid) == ["room-a"]
    assert sim.carrier.errors == []

    leg.hangup()
    assert other.status == "completed" and other.reason_conference_ended == "last-participant-left"
    caller.hangup()
    assert room.status == "completed"
    assert sim.carrier.errors == []


def test_redirecting_an_end_on_exit_participant_ends_its_conference(sim: Sim) -> None:
    client = rest_client(sim)
    caller, leg, room = start_room(sim, client, end_on_exit=True)
    sim.server.route("/moved", MOVED)

    client.api.v2010.accounts(sim.carrier.account_sid).calls(leg.sid).update(url=sim.server.url("/moved"))

    leg.wait_for_say("moved")
    leg.wait_for(conference_event("joined", "other"))
    caller.wait_for_say("After the conference")  # the caller's <Dial> ends and its document goes on
    assert room.status == "completed"
    assert room.reason_conference_ended == "participant-with-end-conference-on-exit-left"
    assert room.call_sid_ending_conference == leg.sid
    assert sim.server.requests_to("/moved")[0].form["CallSid"] == leg.sid
    assert leave_events_for(sim, leg.sid) == ["room-a"]
    caller.wait_ended()
    assert leg.status == "in-progress"
    leg.hangup()
    assert sim.carrier.errors == []
