"""A menu answer that routes the caller joins the queue in one Redis round trip: the step joins the call's walk and
the caller the queue in one script (acd.join_from_walk), which reads the walk and the caller facts learnt at the
greeting itself. It places the caller exactly as the two steps did (the walk read, then the join), which is still
how a caller is placed while the walk or the facts cannot say it."""

from __future__ import annotations

import json
from typing import Any

import pytest
import redis
from sqlalchemy import select

from callcenter.models import RoutingTrace
from callcenter.services import acd, caller_steps, routing
from callcenter.services.ivr_flows import BILINGUAL_NUMBER, ensure_bilingual_flow
from tests.inbound.conftest import NUMBER
from tests.support.servers import wait_until

VIP = "+14155550122"


@pytest.fixture
def app_config(app_config):
    app_config.update(SIM_PHONE_NUMBERS=[NUMBER, BILINGUAL_NUMBER])
    return app_config


def _requests_to_redis(action, monkeypatch) -> list[list[tuple[str, ...]]]:
    """The requests sent to Redis during `action`, each as the commands it carried (a pipeline: several)."""
    sent: list[list[tuple[str, ...]]] = []
    send = redis.connection.AbstractConnection.send_packed_command

    def recording(connection, command, check_health=True):
        chunks = command if isinstance(command, list) else [command]
        text = b"".join(c if isinstance(c, bytes) else bytes(c) for c in chunks).decode("utf-8", "replace")
        sent.append([tuple(line for line in part.split("\r\n")[1:] if line and not line.startswith("$"))
                     for part in text.split("\r\n*") if part])
        return send(connection, command, check_health)

    monkeypatch.setattr(redis.connection.AbstractConnection, "send_packed_command", recording)
    action()
    monkeypatch.undo()
    return sent


def test_the_step_that_routes_writes_the_walk_and_joins_the_queue_in_one_request(
        session, factory, sim_carrier, redis_client, line, monkeypatch):
    factory.contact(phones=(VIP,), first_name="Vip", vip=True)
    earlier = sim_carrier.dial("+14155550199", NUMBER)  # Redis has our scripts from then on
    earlier.wait_for_say("For sales")
    earlier.press("1")
    wait_until(lambda: acd.get_entry(redis_client, earlier.sid) is not None, message="earlier caller queued")
    caller = sim_carrier.dial(VIP, NUMBER)
    caller.wait_for_say("For sales")
    walk = caller_steps._walk_key(caller.sid)

    sent = _requests_to_redis(lambda: (caller.press("1"), wait_until(
        lambda: acd.get_entry(redis_client, caller.sid) is not None, message="caller queued")), monkeypatch)

    touching_the_walk = [request for request in sent if any(walk in command for command in request)]
    assert len(touching_the_walk) == 1, touching_the_walk
    (command,) = touching_the_walk[0]
    assert command[0] == "EVALSHA" and caller.sid in command, command  # the join itself
    steps = [name for name in redis_client.hkeys(walk) if name.startswith(b"step:main:")]
    assert len(steps) == 1, steps
    entry = acd.get_entry(redis_client, caller.sid)
    assert entry.priority == 10 and entry.payload["ivr_path"][-1]["node"] == "main"
    caller.hangup()


def _queued_on_the_bilingual_line(sim_carrier, redis_client, *, facts: dict[str, Any], old_walk: bool) -> str:
    """A caller who chooses 中文 (2), then sales (1), with these caller facts; `old_walk`: their walk lacks the
    fields the one-request join needs (written before it existed), so the menu reads the walk, then joins."""
    caller = sim_carrier.dial(VIP, BILINGUAL_NUMBER)
    caller.wait_for_say("中文服务请按2")
    redis_client.set(routing.caller_facts_key(caller.sid), json.dumps(facts))
    if old_walk:
        redis_client.hdel(caller_steps._walk_key(caller.sid), "e164", "locale")
    caller.press("2")
    caller.wait_for_say("销售请按1")
    caller.press("1")
    wait_until(lambda: acd.get_entry(redis_client, caller.sid), message="caller queued")
    return caller.sid


def test_one_request_places_the_caller_as_reading_the_walk_then_joining_does(
        session, factory, sim_carrier, redis_client, line, monkeypatch):
    """Priority (the queue's weights for the facts that hold), contact, sticky agent, the language skill, the IVR
    path in order, the caller's language, and the routing trace: the same either way."""
    ensure_bilingual_flow(session)
    session.commit()
    alice = factory.user(skills={"sales": 5, "language:zh_Hans": 5}, username="alice")
    vip = factory.contact(phones=(VIP,), first_name="Vip", vip=True)
    facts = {"contact_ids": [vip.id], "holds": ["vip", "open_urgent_ticket"], "last_agent_id": alice.id}

    joins: list[bool] = []
    join_from_walk = acd.join_from_walk
    monkeypatch.setattr(acd, "join_from_walk", lambda *a, **k: joins.append(
        (joined := join_from_walk(*a, **k)) is not None) or joined)

    one_request = _queued_on_the_bilingual_line(sim_carrier, redis_client, facts=facts, old_walk=False)
    two_requests = _queued_on_the_bilingual_line(sim_carrier, redis_client, facts=facts, old_walk=True)

    assert joins == [True, False]  # the second found the walk without its new fields: nothing joined

    entries = [redis_client.hgetall(acd.call_key(sid)) for sid in (one_request, two_requests)]
    placed = [acd.get_entry(redis_client, sid) for sid in (one_request, two_requests)]
    assert placed[0].priority == 10 + 5  # the Sales queue's weights: VIP 10, urgent ticket 5
    assert (placed[0].contact_id, placed[0].sticky_agent_id, placed[0].language) == (vip.id, alice.id, "zh_Hans")
    assert [step["node"] for step in placed[0].payload["ivr_path"]] == ["language", "main_zh"]
    for name in (b"priority", b"from", b"contact_id", b"sticky_agent_id", b"language"):
        assert entries[0].get(name) == entries[1].get(name), name
    for name in (b"skills", b"reasons"):  # JSON, written by Lua's cjson or Python's json
        assert json.loads(entries[0][name]) == json.loads(entries[1][name]) != {}, name
    assert placed[0].payload == {**placed[1].payload, "call_sid": one_request}
    waits = [float(e[b"sticky_until"]) - float(e[b"enqueued_at"]) for e in entries]
    assert waits[0] == pytest.approx(waits[1]) and waits[0] > 0

    def queued_traces() -> list[dict[str, Any]] | None:
        session.expire_all()
        rows = {row.call_sid: row.details for row in session.scalars(
            select(RoutingTrace).where(RoutingTrace.kind == "queued",
                                       RoutingTrace.call_sid.in_((one_request, two_requests))))}
        return [rows[one_request], rows[two_requests]] if len(rows) == 2 else None

    traces = wait_until(queued_traces, message="both routing decisions stored")
    for trace in traces:
        trace.pop("at", None)
    assert traces[0] == traces[1], traces
    assert traces[0]["reasons"] == {"vip": 10, "open_urgent_ticket": 5}
    assert traces[0]["sticky_agent_id"] == alice.id
    assert [step["node"] for step in traces[0]["ivr_path"]] == ["language", "main_zh"]
