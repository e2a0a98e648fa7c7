"""The agent console's socket: state changes, the screen-pop pushed at reservation, re-sent after a reload,
moved to the next agent when not acknowledged, and no offers to a console that stopped answering."""

from __future__ import annotations

import time

from callcenter.services import agent_state, offers, reachability, routing
from tests.realtime.conftest import received
from tests.support.servers import wait_until


def _enqueue(session, redis_client, queue, call_sid="CA" + "1" * 32, from_number="+14155550100", now=None):
    return routing.enqueue_call(session, redis_client, call_sid=call_sid, queue_id=queue.id,
                                from_number=from_number, payload={"ivr_path": [{"node": "main", "input": "2"}]},
                                now=now)


def test_connect_sends_a_snapshot_and_set_state_goes_available(factory, console):
    alice = factory.user(skills={"support": 5}, username="alice")
    sock = console(alice)
    hello = received(sock, "hello")
    assert hello[0]["presence"]["state"] == "offline" and hello[0]["offer"] is None

    ack = sock.emit("set_state", {"state": "available"}, namespace="/agent", callback=True)

    assert ack["ok"] is True and ack["presence"]["state"] == "available"
    assert [s["state"] for s in received(sock, "state")] == ["available"]


def test_illegal_state_request_is_refused_with_a_message(factory, console):
    sock = console(factory.user(username="bob"))
    ack = sock.emit("set_state", {"state": "on_call"}, namespace="/agent", callback=True)
    assert ack["ok"] is False and ack["error"]
    bad = sock.emit("set_state", "not an object", namespace="/agent", callback=True)
    assert bad == {"ok": False, "error": "Expected an object", "field": None}


def test_pop_reaches_the_reserved_agent_with_the_caller_record(session, factory, console, redis_client,
                                                              support_queue):
    alice = factory.user(skills={"support": 5}, username="alice")
    factory.contact(phones=("+14155550100",), first_name="Dana", last_name="Lee")
    sock = console(alice)
    sock.emit("set_state", {"state": "available"}, namespace="/agent", callback=True)
    sock.get_received("/agent")

    _enqueue(session, redis_client, support_queue)

    [offer] = received(sock, "offer")
    assert offer["agent_id"] == alice.id and offer["call_sid"] == "CA" + "1" * 32
    assert offer["pop"]["contact"]["name"] == "Dana Lee"
    assert offer["pop"]["queue"] == "Support" and offer["pop"]["ivr_path"][0]["input"] == "2"


def test_reload_resends_the_pending_offer(session, factory, console, redis_client, support_queue):
    alice = factory.user(skills={"support": 5}, username="alice")
    first = console(alice)
    first.emit("set_state", {"state": "available"}, namespace="/agent", callback=True)
    _enqueue(session, redis_client, support_queue)
    [offer] = received(first, "offer")

    first.disconnect("/agent")  # the tab reloads
    second = console(alice)

    [hello] = received(second, "hello")
    assert hello["presence"]["state"] == "reserved" and hello["presence"]["disconnected"] is False
    assert hello["offer"]["call_sid"] == offer["call_sid"]
    assert hello["offer"]["pop"] == offer["pop"]


def test_unacknowledged_pop_moves_to_the_next_agent(session, factory, console, redis_client, support_queue):
    now = time.time()
    alice = factory.user(skills={"support": 5}, username="alice")
    bob = factory.user(skills={"support": 5}, username="bob")
    alice_sock, bob_sock = console(alice), console(bob)
    alice_sock.emit("set_state", {"state": "available"}, namespace="/agent", callback=True)
    bob_sock.emit("set_state", {"state": "available"}, namespace="/agent", callback=True)
    _enqueue(session, redis_client, support_queue, now=now)
    first_choice, other = (alice, bob) if received(alice_sock, "offer") else (bob, alice)
    silent_sock, other_sock = (alice_sock, bob_sock) if first_choice is alice else (bob_sock, alice_sock)
    other_sock.get_received("/agent")

    moved = offers.expire_unacknowledged(session, redis_client, now + 2.5)

    assert moved == [(first_choice.id, "CA" + "1" * 32)]
    assert agent_state.get_presence(redis_client, first_choice.id).unreachable is True
    assert [w["reason"] for w in received(silent_sock, "offer_withdrawn")] == ["console did not respond"]
    [offer] = received(other_sock, "offer")
    assert offer["agent_id"] == other.id


def test_acknowledged_pop_stays_with_the_agent(session, factory, console, redis_client, support_queue):
    now = time.time()
    alice = factory.user(skills={"support": 5}, username="alice")
    sock = console(alice)
    sock.emit("set_state", {"state": "available"}, namespace="/agent", callback=True)
    _enqueue(session, redis_client, support_queue, now=now)
    [offer] = received(sock, "offer")

    ack = sock.emit("offer_ack", {"call_sid": offer["call_sid"]}, namespace="/agent", callback=True)

    assert ack["ok"] is True
    assert offers.expire_unacknowledged(session, redis_client, now + 5) == []
    assert agent_state.get_presence(redis_client, alice.id).state == "reserved"


def test_console_that_stops_answering_heartbeats_gets_no_offer(session, factory, console, redis_client,
                                                              support_queue):
    now = time.time()
    alice = factory.user(skills={"support": 5}, username="alice")
    bob = factory.user(skills={"support": 5}, username="bob")
    alice_sock, bob_sock = console(alice), console(bob)
    for sock in (alice_sock, bob_sock):
        sock.emit("set_state", {"state": "available"}, namespace="/agent", callback=True)
    # Both were pinged; only bob's console answers.
    bob_sock.emit("heartbeat", {"nonce": "n1"}, namespace="/agent", callback=True)
    reachability.heartbeat_answered(redis_client, bob.id, now + 14)

    flagged = reachability.flag_unresponsive(redis_client, now + 16, timeout=15)

    assert flagged == [alice.id]
    assert received(alice_sock, "state")[-1]["unreachable"] is True
    _enqueue(session, redis_client, support_queue, now=now + 16)
    assert received(alice_sock, "offer") == []
    assert [o["agent_id"] for o in received(bob_sock, "offer")] == [bob.id]

    # Alice's console wakes up and answers: she is offerable again.
    alice_sock.emit("heartbeat", {"nonce": "n2"}, namespace="/agent", callback=True)
    wait_until(lambda: agent_state.get_presence(redis_client, alice.id).unreachable is False,
               message="alice's answer recorded")


def test_disconnect_then_grace_period_sends_the_agent_offline(session, factory, console, redis_client):
    alice = factory.user(skills={"support": 5}, username="alice")
    sock = console(alice)
    sock.emit("set_state", {"state": "available"}, namespace="/agent", callback=True)
    sock.disconnect("/agent")
    assert agent_state.get_presence(redis_client, alice.id).disconnected_at is not None

    routing.tick(session, redis_client, time.time() + 31, disconnect_grace_seconds=30)

    assert agent_state.get_presence(redis_client, alice.id).state == "offline"


def test_anonymous_socket_is_refused(app):
    from callcenter.extensions import socketio

    client = socketio.test_client(app, namespace="/agent")
    assert not client.is_connected("/agent")


def test_wallboard_is_for_supervisors(app, factory, console):
    from callcenter.extensions import socketio

    agent = factory.user(username="agent007", team="Tier 1")
    http = app.test_client()
    http.post("/login", data={"username": agent.username, "password": "password123"})
    assert not socketio.test_client(app, namespace="/supervisor", flask_test_client=http).is_connected("/supervisor")

    boss = factory.user("supervisor", username="boss", team="Tier 1")
    wall = console(boss, namespace="/supervisor")
    [snapshot] = received(wall, "snapshot", "/supervisor")
    assert {a["agent_id"] for a in snapshot["agents"]} == {agent.id}


def test_echo_returns_its_data_as_the_acknowledgement_without_database_or_redis(app, factory, console):
    from sqlalchemy import event

    from callcenter.extensions import db
    from callcenter.redis_conn import connect

    sock = console(factory.user(username="alice"))
    statements: list[str] = []

    def count(_conn, _cursor, statement, *_args) -> None:
        statements.append(statement)

    working = app.extensions["callcenter.redis"]
    app.extensions["callcenter.redis"] = connect("unix:///nonexistent/redis.sock")  # Redis down changes nothing
    event.listen(db.engine, "before_cursor_execute", count)
    try:
        ack = sock.emit("echo", {"n": 7, "sent": 12.5}, namespace="/agent", callback=True)
    finally:
        event.remove(db.engine, "before_cursor_execute", count)
        app.extensions["callcenter.redis"] = working  # the console's disconnect at teardown needs it

    assert ack == {"n": 7, "sent": 12.5}
    assert statements == []


def test_echo_needs_a_signed_in_console(app):
    from callcenter.extensions import socketio

    anonymous = socketio.test_client(app, namespace="/agent")
    assert not anonymous.is_connected("/agent")


def test_heartbeats_and_offer_acknowledgements_load_no_user(session, factory, console, redis_client, support_queue,
                                                             monkeypatch):
    """Every agent answers a heartbeat every few seconds and acknowledges each pop on the way to the ring: these
    events use the agent the socket was opened as, instead of loading the user from the database each time."""
    from callcenter.web.auth import login_manager

    alice = factory.user(skills={"support": 5}, username="alice")
    sock = console(alice)
    sock.emit("set_state", {"state": "available"}, namespace="/agent", callback=True)
    _enqueue(session, redis_client, support_queue)
    [offer] = received(sock, "offer")
    loaded: list[str] = []
    real_loader = login_manager._user_callback
    monkeypatch.setattr(login_manager, "_user_callback", lambda user_id: loaded.append(user_id) or real_loader(user_id))

    beat = sock.emit("heartbeat", {"nonce": "n1"}, namespace="/agent", callback=True)
    ack = sock.emit("offer_ack", {"call_sid": offer["call_sid"]}, namespace="/agent", callback=True)
    snapshot = sock.emit("snapshot", {}, namespace="/agent", callback=True)

    assert (beat, ack["ok"], ack["call_sid"]) == ({"ok": True, "nonce": "n1"}, True, offer["call_sid"])
    assert snapshot["ok"] is True
    assert [user_id.partition(":")[0] for user_id in loaded] == [str(alice.id)]  # only the snapshot loaded it


def test_one_heartbeat_message_pings_exactly_the_agents_it_names(factory, console, redis_client):
    """The ticker pings a slot of the floor with one event (one message-queue message), not one per agent."""
    from callcenter.services.events import publish

    alice, bob, carol = (factory.user(username=name) for name in ("alice", "bob", "carol"))
    socks = {user.username: console(user) for user in (alice, bob, carol)}
    for sock in socks.values():
        sock.get_received("/agent")

    publish("agents.heartbeat", agent_ids=[alice.id, carol.id], nonce="n7")

    assert {name: received(sock, "heartbeat") for name, sock in socks.items()} == {
        "alice": [{"nonce": "n7"}], "bob": [], "carol": [{"nonce": "n7"}]}
    redis_client.zadd(reachability.CONNECTED, {str(alice.id): 1.0}, xx=True)  # last answered long ago
    assert socks["alice"].emit("heartbeat", {"nonce": "n7"}, namespace="/agent", callback=True) == {
        "ok": True, "nonce": "n7"}
    wait_until(lambda: redis_client.zscore(reachability.CONNECTED, str(alice.id)) > 1.0,
               message="alice's answer recorded")


def test_answers_arriving_together_are_written_in_one_go(factory, console, redis_client, monkeypatch):
    """Fifty answers a second reach a web process at 500 agents: they share a Redis round trip."""
    from callcenter.realtime import heartbeats

    written: list[list[int]] = []
    real_write = reachability.heartbeats_answered
    monkeypatch.setattr(heartbeats.reachability, "heartbeats_answered",
                        lambda r, agent_ids, now=None: written.append(sorted(agent_ids)) or real_write(r, agent_ids))
    agents = [factory.user(username=name) for name in ("alice", "bob", "carol")]
    socks = [console(agent) for agent in agents]
    redis_client.zadd(reachability.CONNECTED, {str(agent.id): 1.0 for agent in agents}, xx=True)  # long ago

    acks = [sock.emit("heartbeat", {"nonce": "n8"}, namespace="/agent", callback=True) for sock in socks]

    assert acks == [{"ok": True, "nonce": "n8"}] * 3  # acknowledged at once, before the write
    wait_until(lambda: written, message="the answers written")
    assert written == [sorted(agent.id for agent in agents)]
    assert all(redis_client.zscore(reachability.CONNECTED, str(agent.id)) > 1.0 for agent in agents)


def test_a_supervisor_wallboard_shows_and_hears_only_their_teams_agents_and_an_admin_all(
        session, factory, console, redis_client, support_queue):
    """Team scope in realtime: the snapshot and the live agent updates; queues are shared by every team."""
    north, south = factory.user(username="nora", team="North"), factory.user(username="stan", team="South")
    sam = console(factory.user("supervisor", username="sam", team="North"), namespace="/supervisor")
    ada = console(factory.user("admin", username="ada"), namespace="/supervisor")
    [sams] = received(sam, "snapshot", "/supervisor")
    [adas] = received(ada, "snapshot", "/supervisor")
    assert {a["agent_id"] for a in sams["agents"]} == {north.id}
    assert {a["agent_id"] for a in adas["agents"]} == {north.id, south.id}
    assert [q["name"] for q in sams["queues"]] == [q["name"] for q in adas["queues"]] == ["Support"]

    for agent in (north, south):
        agent_state.login(session, redis_client, agent.id, state="away", reason="break")

    assert {a["agent_id"] for a in received(sam, "agent", "/supervisor")} == {north.id}
    assert {a["agent_id"] for a in received(ada, "agent", "/supervisor")} == {north.id, south.id}
    asked = sam.emit("snapshot", {}, namespace="/supervisor", callback=True)
    assert {a["agent_id"] for a in asked["agents"]} == {north.id}
