"""A caller dials in through the emulated carrier, uses the IVR, waits, and is bridged to an agent."""

from __future__ import annotations

import time

from sqlalchemy import select

from callcenter.models import Callback, Ticket
from callcenter.services import acd, agent_state, calls, routing
from callcenter.services.interactions import agent_identity, conference_name
from tests.inbound.conftest import NUMBER
from tests.realtime.conftest import received
from tests.support.servers import wait_until

DANA = "+14155550100"


def _available(console, user):
    sock = console(user)
    assert sock.emit("set_state", {"state": "available"}, namespace="/agent", callback=True)["ok"]
    return sock


def _dana_with_a_technical_problem(sim_carrier):
    """Dana calls the line and chooses support (2), then "something is not working" (1): queued in Support."""
    caller = sim_carrier.dial(DANA, NUMBER)
    caller.wait_for_say("For sales, press 1")
    caller.press("2")
    caller.wait_for_say("If something is not working")
    caller.press("1")
    return caller


def _answer(sock, softphone, offer):
    """The agent's console acknowledges the pop, and their softphone takes the ring it lets through."""
    sock.emit("offer_ack", {"call_sid": offer["call_sid"]}, namespace="/agent", callback=True)
    softphone.wait_for_incoming()
    return softphone.accept()


def _wait_for_event(sock, name, timeout=10.0, namespace=None):
    found: list = []
    namespace = namespace or ("/supervisor" if name in ("queue", "snapshot", "alert") else "/agent")

    def check():
        found.extend(received(sock, name, namespace))
        return found

    return wait_until(check, timeout=timeout, message=f"socket event {name!r}")


def test_caller_picks_support_and_is_bridged_to_the_agent_who_saw_the_pop(
        session, factory, console, sim_carrier, redis_client, line):
    alice = factory.user(skills={"support": 5}, username="alice")
    dana = factory.contact(phones=(DANA,), first_name="Dana", last_name="Lee")
    session.add(Ticket(subject="Router keeps rebooting", priority="urgent", contact_id=dana.id))
    session.commit()
    softphone = sim_carrier.client(agent_identity(alice.id))
    sock = _available(console, alice)

    caller = _dana_with_a_technical_problem(sim_carrier)

    [offer] = _wait_for_event(sock, "offer")
    pop = offer["pop"]
    assert pop["contact"]["name"] == "Dana Lee"
    assert [t["subject"] for t in pop["open_tickets"]] == ["Router keeps rebooting"]
    assert [step["input"] for step in pop["ivr_path"]] == ["2", "1"]
    assert pop["queue"] == "Support"
    # Nothing rings before the console has shown the pop.
    assert softphone.incoming == []

    agent_leg = _answer(sock, softphone, offer)

    room = conference_name(caller.sid)
    wait_until(lambda: len(getattr(sim_carrier.conference(room), "participants", {}) or {}) == 2,
               message="caller and agent in the conference")
    assert agent_state.get_presence(redis_client, alice.id).state == "on_call"

    caller.hangup()
    wait_until(lambda: agent_state.get_presence(redis_client, alice.id).state == "wrap_up",
               message="agent in wrap-up after the caller hung up")
    agent_leg.wait_ended()
    session.expire_all()
    record = calls.get_call(session, caller.sid)
    assert record.status == "completed"
    assert (record.queue.name, record.agent_id, record.contact_id) == ("Support", alice.id, dana.id)
    assert record.enqueued_at is not None and record.agent_answered_at is not None
    assert [step["input"] for step in record.ivr_path] == ["2", "1"]


def test_vip_caller_is_answered_before_an_earlier_caller(session, factory, console, sim_carrier, redis_client,
                                                        line):
    alice = factory.user(skills={"sales": 5}, username="alice")
    factory.contact(phones=("+14155550111",), first_name="Early")
    factory.contact(phones=("+14155550122",), first_name="Vip", vip=True)

    early = sim_carrier.dial("+14155550111", NUMBER)
    early.wait_for_say("For sales")
    early.press("1")
    wait_until(lambda: acd.position(redis_client, early.sid) == 1, message="early caller waiting")
    vip = sim_carrier.dial("+14155550122", NUMBER)
    vip.wait_for_say("For sales")
    vip.press("1")
    wait_until(lambda: acd.position(redis_client, vip.sid) is not None, message="VIP caller waiting")
    assert acd.position(redis_client, vip.sid) == 1 and acd.position(redis_client, early.sid) == 2

    sock = _available(console, alice)

    [offer] = _wait_for_event(sock, "offer")
    assert offer["call_sid"] == vip.sid and offer["pop"]["vip"] is True
    early.hangup()
    vip.hangup()


def test_star_while_waiting_books_a_callback_that_keeps_the_place(session, factory, sim_carrier, redis_client,
                                                                  line, console):
    first = sim_carrier.dial("+14155550111", NUMBER)
    first.wait_for_say("For billing")
    first.press("3")
    wait_until(lambda: acd.position(redis_client, first.sid) == 1, message="first caller waiting")
    second = sim_carrier.dial("+14155550122", NUMBER)
    second.wait_for_say("For billing")
    second.press("3")
    wait_until(lambda: acd.position(redis_client, second.sid) == 2, message="second caller waiting")

    first.wait_for_say("press star")
    first.press("*")
    first.wait_for_say("keep your place")
    first.wait_ended()

    entry = acd.get_entry(redis_client, f"cb-{first.sid}")
    assert entry is not None and entry.callback and acd.position(redis_client, entry.entry_id) == 1
    assert acd.position(redis_client, second.sid) == 2
    callback = session.scalar(select(Callback))
    assert (callback.phone_e164, callback.status, callback.queue.name) == ("+14155550111", "offered", "Billing")

    # The callback is offered first when an agent becomes free; answering it dials the customer in.
    erin = factory.user(skills={"billing": 5}, username="erin")
    sim_carrier.phone("+14155550111", answer="auto", ring_seconds=0.2)
    softphone = sim_carrier.client(agent_identity(erin.id))
    sock = _available(console, erin)
    [offer] = _wait_for_event(sock, "offer")
    assert offer["call_sid"] == f"cb-{first.sid}" and offer["callback"] is True
    assert offer["pop"]["from"] == "+14155550111"
    _answer(sock, softphone, offer)
    room = conference_name(first.sid)
    wait_until(lambda: len(getattr(sim_carrier.conference(room), "participants", {}) or {}) == 2,
               message="agent and called-back customer in the conference")
    session.expire_all()
    assert session.get(Callback, callback.id).status == "dialing"
    customer = next(c for c in sim_carrier.calls.values() if c.to == "+14155550111" and not c.ended)
    sim_carrier.handle(customer.sid).hangup()
    wait_until(lambda: agent_state.get_presence(redis_client, erin.id).state == "wrap_up",
               message="agent in wrap-up after the called-back customer hung up")
    session.expire_all()
    assert session.get(Callback, callback.id).status == "completed"
    second.hangup()


def test_after_hours_caller_leaves_a_voicemail_that_becomes_a_ticket(session, factory, sim_carrier, line):
    support = line["Support"]
    support.business_hours = {}  # closed every day
    session.commit()
    dana = factory.contact(phones=(DANA,), first_name="Dana")

    caller = sim_carrier.dial(DANA, NUMBER)
    caller.wait_for_say("closed")
    caller.record(seconds=3, text="Please call me about my invoice")
    caller.wait_for_say("Thank you")
    caller.wait_ended()

    session.expire_all()
    ticket = wait_until(lambda: session.scalar(select(Ticket)), message="voicemail ticket")
    record = calls.get_call(session, caller.sid)
    assert ticket.call_id == record.id and ticket.subject.startswith("Voicemail from")
    assert record.recording_url and ticket.contact_id in (None, dana.id)


def test_reservation_timeout_reoffers_to_another_agent(session, factory, console, sim_carrier, redis_client, line):
    alice = factory.user(skills={"sales": 5}, username="alice")
    bob = factory.user(skills={"sales": 5}, username="bob")
    alice_sock = _available(console, alice)
    caller = sim_carrier.dial("+14155550133", NUMBER)
    caller.wait_for_say("For sales")
    caller.press("1")
    [offer] = _wait_for_event(alice_sock, "offer")
    bob_sock = _available(console, bob)

    routing.tick(session, redis_client, time.time() + 20)

    assert agent_state.get_presence(redis_client, alice.id).state == "away"
    assert agent_state.get_presence(redis_client, alice.id).reason == "missed"
    [second] = _wait_for_event(bob_sock, "offer")
    assert second["call_sid"] == offer["call_sid"] == caller.sid
    caller.hangup()


def test_wallboard_sees_the_waiting_count_rise_and_fall(session, factory, console, sim_carrier, line):
    boss = factory.user("supervisor", username="boss")
    wall = console(boss, namespace="/supervisor")
    [snapshot] = received(wall, "snapshot", "/supervisor")
    assert {q["name"]: q["waiting"] for q in snapshot["queues"]} == {"Billing": 0, "Sales": 0, "Support": 0}

    caller = sim_carrier.dial("+14155550144", NUMBER)
    caller.wait_for_say("For sales")
    caller.press("1")
    rise = _wait_for_event(wall, "queue")
    assert any(q["waiting"] == 1 for q in rise)
    caller.hangup()

    updates: list = []
    # A hang-up within REPORT_SHORT_ABANDON_SECONDS of joining is a short abandon (reported apart), later an abandon.
    wait_until(lambda: updates.extend(received(wall, "queue", "/supervisor")) or any(
        u.get("abandoned", 0) + u.get("short_abandoned", 0) == 1 and u.get("name") == "Sales" for u in updates),
        message="abandoned count pushed")
    assert any(u.get("waiting") == 0 for u in updates)


def test_a_booked_callback_joins_its_queue_when_due_and_dials_the_customer(
        app, session, factory, console, sim_carrier, redis_client, line):
    from datetime import UTC, datetime, timedelta

    from callcenter.models import Callback
    from workers import ticker

    customer = "+14155550166"
    dana = factory.contact(phones=(customer,), first_name="Dana", last_name="Lee")
    booked = Callback(phone_e164=customer, contact_id=dana.id, queue_id=line["Sales"].id, status="scheduled",
                      requested_at=datetime.now(UTC) - timedelta(hours=1),
                      due_at=datetime.now(UTC) + timedelta(minutes=5), notes="Wants a quote")
    session.add(booked)
    session.commit()
    bob = factory.user(skills={"sales": 5}, username="bob")
    sim_carrier.phone(customer, answer="auto", ring_seconds=0.2)
    softphone = sim_carrier.client(agent_identity(bob.id))
    sock = _available(console, bob)

    ticker.tick(app, time.time())  # not due yet
    assert received(sock, "offer") == []
    ticker.tick(app, time.time() + 6 * 60)

    [offer] = _wait_for_event(sock, "offer")
    assert offer["callback"] is True and offer["pop"]["contact"]["name"] == "Dana Lee"
    _answer(sock, softphone, offer)
    leg = wait_until(lambda: next((c for c in sim_carrier.calls.values() if c.to == customer and c.answered), None),
                     message="the customer answered the callback")
    sim_carrier.handle(leg.sid).hangup()
    wait_until(lambda: agent_state.get_presence(redis_client, bob.id).state == "wrap_up", message="bob wraps up")
    session.expire_all()
    assert (session.get(Callback, booked.id).status, session.get(Callback, booked.id).attempts) == ("completed", 1)
