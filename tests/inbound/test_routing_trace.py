"""The routing trace through the emulated carrier: a supervisor sees why a call went to its queue and agent — the
candidates the ACD considered, their levels and idle times, the sticky-agent rule — and capture never fails a
webhook when Redis refuses it."""

from __future__ import annotations

import time
from html.parser import HTMLParser

from sqlalchemy import func, select

from callcenter.models import RoutingTrace
from callcenter.services import acd, agent_state
from callcenter.services import auth as auth_service
from tests.inbound.conftest import NUMBER
from tests.inbound.test_inbound_calls import _available, _wait_for_event
from tests.support.servers import wait_until


def _call_billing(sim_carrier, number: str):
    caller = sim_carrier.dial(number, NUMBER)
    caller.wait_for_say("For billing")
    caller.press("3")
    return caller


def _headers(session, user) -> dict[str, str]:
    token = auth_service.issue_api_token(session, user, "test", actor_id=None)
    session.commit()
    return {"Authorization": f"Bearer {token}"}


def _trace(client, headers, call_sid: str, kinds: tuple[str, ...]) -> dict:
    """The call's trace once the flush job has stored decisions of `kinds`, in that order, first."""
    seen: list = []

    def ready():
        response = client.get(f"/api/v1/calls/{call_sid}/trace", headers=headers)
        body = response.get_json() if response.status_code == 200 else None
        seen[:] = [response.status_code, body]
        # The first decisions (an offer nobody answers may expire and be made again later).
        return body if body and tuple(s["kind"] for s in body["steps"])[:len(kinds)] == kinds else None

    try:
        return wait_until(ready, timeout=30.0, message=f"trace steps {kinds}")
    except AssertionError as exc:
        raise AssertionError(f"{exc}; last answer {seen}") from None


def _idle_in_order(console, redis_client, *agents):
    """Make the agents available one after the other, so the first has been idle longest."""
    socks = []
    for agent in agents:
        socks.append(_available(console, agent))
        wait_until(lambda a=agent: agent_state.get_presence(redis_client, a.id).idle_since is not None, message="idle")
        time.sleep(0.05)
    return socks


def test_the_trace_names_both_candidates_and_why_the_longest_idle_one_won(
        session, factory, console, sim_carrier, redis_client, line, client, auth):
    junior = factory.user(skills={"billing": 4}, username="junior", team="Floor")
    senior = factory.user(skills={"billing": 9}, username="senior", team="Floor")
    boss = factory.user("supervisor", team="Floor", username="boss")
    junior_sock, _ = _idle_in_order(console, redis_client, junior, senior)

    caller = _call_billing(sim_carrier, "+14155550301")
    [offer] = _wait_for_event(junior_sock, "offer")
    assert offer["agent_id"] == junior.id

    body = _trace(client, _headers(session, boss), caller.sid, ("queued", "offered"))
    queued, offered = body["steps"][:2]
    assert queued["queue_id"] == line["Billing"].id
    assert queued["details"]["queue_name"] == "Billing" and queued["details"]["ivr_path"]
    assert any("Priority" in why for why in queued["why"])
    assert offered["agent_id"] == junior.id and offered["details"]["rule"] == "longest_idle"
    by_id = {c["agent_id"]: c for c in offered["candidates"]}
    assert set(by_id) == {junior.id, senior.id}
    assert by_id[junior.id]["levels"] == [{"skill": "billing", "level": 4}]
    assert by_id[senior.id]["levels"] == [{"skill": "billing", "level": 9}]
    assert by_id[junior.id]["chosen"] and not by_id[senior.id]["chosen"]
    assert by_id[junior.id]["idle_seconds"] > by_id[senior.id]["idle_seconds"]
    assert all(c["eligible"] and not c["declined"] for c in by_id.values())
    assert junior.full_name in offered["why"][0] and "longest idle" in offered["why"][0]

    # The call page shows the supervisor the same decision: both candidates, the chosen one marked.
    auth.login("boss")
    page = client.get(f"/calls/{caller.sid}")
    assert page.status_code == 200
    rows = _candidate_rows(page.get_data(as_text=True))
    assert rows == {junior.id: True, senior.id: False}
    caller.hangup()


def test_the_trace_says_the_sticky_agent_won_though_another_was_idle_longer(
        session, factory, console, sim_carrier, redis_client, line, client):
    long_idle = factory.user(skills={"billing": 5}, username="longidle2", team="Floor")
    bob = factory.user(skills={"billing": 5}, username="bob2", team="Floor")
    boss = factory.user("supervisor", team="Floor")
    factory.call(from_number="+14155550302", agent_id=bob.id, status="completed", queue_id=line["Billing"].id)
    _, bob_sock = _idle_in_order(console, redis_client, long_idle, bob)

    caller = _call_billing(sim_carrier, "+14155550302")
    [offer] = _wait_for_event(bob_sock, "offer")
    assert offer["agent_id"] == bob.id

    queued, offered = _trace(client, _headers(session, boss), caller.sid, ("queued", "offered"))["steps"][:2]
    assert queued["details"]["sticky_agent_id"] == bob.id
    assert any(bob.full_name in why and "Sticky agent" in why for why in queued["why"])
    assert offered["details"]["rule"] == "sticky" and offered["agent_id"] == bob.id
    chosen = [c["agent_id"] for c in offered["candidates"] if c["chosen"]]
    assert chosen == [bob.id]
    assert long_idle.id in {c["agent_id"] for c in offered["candidates"]}  # considered, idle longer, not chosen
    assert "sticky agent" in offered["why"][0]
    caller.hangup()


def test_agents_may_not_read_the_trace_of_another_agents_call(
        session, factory, console, sim_carrier, redis_client, line, client):
    taker = factory.user(skills={"billing": 5}, username="taker", team="Floor")
    other = factory.user(skills={"sales": 5}, username="other", team="Floor")
    stranger = factory.user("supervisor", team="Elsewhere")
    boss = factory.user("supervisor", team="Floor")
    sock = _available(console, taker)
    caller = _call_billing(sim_carrier, "+14155550303")
    _wait_for_event(sock, "offer")
    _trace(client, _headers(session, boss), caller.sid, ("queued", "offered"))

    assert client.get(f"/api/v1/calls/{caller.sid}/trace", headers=_headers(session, other)).status_code == 403
    assert client.get(f"/api/v1/calls/{caller.sid}/trace", headers=_headers(session, stranger)).status_code == 404
    caller.hangup()


def test_a_trace_redis_cannot_store_never_costs_the_call(
        session, factory, console, sim_carrier, redis_client, line):
    """The decisions are traced inside the ACD's own scripts: when the trace list cannot take a record (here the
    key holds a string), the caller is still queued and offered, and the webhook answers as usual."""
    agent = factory.user(skills={"billing": 5}, username="calm")
    sock = _available(console, agent)
    redis_client.set(acd.TRACE_LOG, "not a list")
    try:
        caller = _call_billing(sim_carrier, "+14155550304")
        [offer] = _wait_for_event(sock, "offer")  # queued and offered all the same
        assert offer["agent_id"] == agent.id
        assert offer["call_sid"] == caller.sid
        assert redis_client.get(acd.TRACE_LOG) == b"not a list"  # neither decision was stored
    finally:
        redis_client.delete(acd.TRACE_LOG)
    caller.hangup()


def _stored(session, call_sid: str, kind: str) -> int:
    session.rollback()  # see the job's commits
    return session.scalar(select(func.count()).select_from(RoutingTrace)
                          .where(RoutingTrace.call_sid == call_sid, RoutingTrace.kind == kind))


class _Rows(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.rows: dict[int, bool] = {}

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        if tag == "tr" and "data-agent-id" in attributes:
            self.rows[int(attributes["data-agent-id"])] = attributes.get("data-chosen") == "1"


def _candidate_rows(html: str) -> dict[int, bool]:
    parser = _Rows()
    parser.feed(html)
    return parser.rows
