"""The call log after a real call through the emulator: found by the supervisor of the agent's team, with its
story (IVR path, events, wait and talk time) and the agent's day; invisible to another team's supervisor."""

from __future__ import annotations

from callcenter.services import agent_state, calls
from callcenter.services.interactions import agent_identity, conference_name
from tests.inbound.test_inbound_calls import _answer, _available, _dana_with_a_technical_problem, _wait_for_event
from tests.support.servers import wait_until

DANA = "+14155550100"


def _signed_in(app, username: str):
    client = app.test_client()
    assert client.post("/login", data={"username": username, "password": "password123"}).status_code == 302
    return client


def test_a_supervisor_finds_their_agents_call_and_reads_its_story(app, session, factory, console, sim_carrier,
                                                                  redis_client, line):
    alice = factory.user(skills={"support": 5}, username="alice", team="North")
    factory.user(role="supervisor", username="sam", team="North")
    factory.user(role="supervisor", username="stan", team="South")
    factory.contact(phones=(DANA,), first_name="Dana", last_name="Lee")
    softphone = sim_carrier.client(agent_identity(alice.id))
    sock = _available(console, alice)

    caller = _dana_with_a_technical_problem(sim_carrier)
    [offer] = _wait_for_event(sock, "offer")
    agent_leg = _answer(sock, softphone, offer)
    wait_until(lambda: len(getattr(sim_carrier.conference(conference_name(caller.sid)), "participants", {}) or {})
               == 2, message="caller and agent bridged")
    caller.hangup()
    agent_leg.wait_ended()
    wait_until(lambda: agent_state.get_presence(redis_client, alice.id).state == "wrap_up", message="wrap-up")
    session.expire_all()
    wait_until(lambda: session.expire_all() or calls.get_call(session, caller.sid).status == "completed",
               message="the call derived as completed")

    sam = _signed_in(app, "sam")
    listing = sam.get("/calls?number=(415) 555-0100&direction=inbound")
    assert listing.status_code == 200
    assert f'data-call="{caller.sid}"' in listing.get_data(as_text=True)
    exported = sam.get("/calls.csv?queue={}".format(line["Support"].id)).get_data(as_text=True)
    assert caller.sid in exported and "Support" in exported

    story = sam.get(f"/calls/{caller.sid}")
    page = story.get_data(as_text=True)
    assert story.status_code == 200
    assert "Dana Lee" in page and alice.full_name in page
    for kind in ("enqueued", "offered", "agent_answered"):
        assert f'data-kind="{kind}"' in page, kind
    assert ": 2 → " in page and ": 1" in page  # the IVR path, choice by choice
    assert '<dd id="talk">—' not in page and '<dd id="wait">—' not in page

    day = sam.get(f"/agents/{alice.id}/day")
    assert day.status_code == 200 and 'data-to="on_call"' in day.get_data(as_text=True)

    stan = _signed_in(app, "stan")
    assert f'data-call="{caller.sid}"' not in stan.get("/calls").get_data(as_text=True)
    assert stan.get(f"/calls/{caller.sid}").status_code == 404
    assert stan.get(f"/agents/{alice.id}/day").status_code == 404
