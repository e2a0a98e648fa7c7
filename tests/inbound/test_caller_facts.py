"""What the CRM says about a caller (their place in line, their card for the pop) is learnt while they hear the
menu, not when they choose or when an agent is offered the call."""

from __future__ import annotations

from datetime import UTC, datetime

from callcenter.models import Ticket
from callcenter.services import acd, offers, routing
from tests.inbound.conftest import NUMBER
from tests.realtime.conftest import received
from tests.support.servers import wait_until
from tests.support.sql import webhook_statements

VIP = "+14155550122"


def test_joining_the_queue_reads_nothing_from_the_crm_when_the_greeting_learnt_the_caller(
        session, factory, sim_carrier, redis_client, line, monkeypatch):
    vip = factory.contact(phones=(VIP,), first_name="Vip", vip=True)
    session.add(Ticket(subject="Down again", priority="urgent", contact_id=vip.id))
    session.commit()
    caller = sim_carrier.dial(VIP, NUMBER)
    caller.wait_for_say("For sales")
    assert redis_client.exists(f"cc:call:{caller.sid}:caller_facts")

    statements = webhook_statements(lambda: (caller.press("1"), wait_until(
        lambda: acd.get_entry(redis_client, caller.sid) is not None, message="caller queued")), monkeypatch)

    crm_reads = [s for s in statements if any(t in s for t in ("contact_phones", "contacts", "accounts", "tickets"))]
    assert crm_reads == []
    entry = acd.get_entry(redis_client, caller.sid)
    assert (entry.priority, entry.contact_id) == (10 + 5, vip.id)  # the queue's weights: VIP 10, urgent ticket 5
    caller.hangup()


def test_a_caller_whose_facts_were_not_learnt_yet_is_still_placed_by_the_crm(
        session, factory, sim_carrier, redis_client, line):
    vip = factory.contact(phones=(VIP,), first_name="Vip", vip=True)
    caller = sim_carrier.dial(VIP, NUMBER)
    caller.wait_for_say("For sales")
    redis_client.delete(f"cc:call:{caller.sid}:caller_facts")  # the learning job has not run (worker busy or down)

    caller.press("1")
    wait_until(lambda: acd.get_entry(redis_client, caller.sid) is not None, message="caller queued")

    entry = acd.get_entry(redis_client, caller.sid)
    assert (entry.priority, entry.contact_id) == (10, vip.id)
    assert routing.known_caller_facts(session, redis_client, caller.sid, VIP, None).contact_ids == (vip.id,)
    caller.hangup()


def test_the_pop_of_a_call_offered_at_once_is_built_from_the_card_learnt_at_the_greeting(
        session, factory, console, sim_carrier, redis_client, line, monkeypatch):
    alice = factory.user(skills={"sales": 5}, username="alice")
    vip = factory.contact(phones=(VIP,), first_name="Vip", last_name="Person", vip=True)
    session.add(Ticket(subject="Down again", priority="urgent", contact_id=vip.id))
    session.commit()
    sock = console(alice)
    assert sock.emit("set_state", {"state": "available"}, namespace="/agent", callback=True)["ok"]
    caller = sim_carrier.dial(VIP, NUMBER)
    caller.wait_for_say("For sales")
    offers_seen: list = []

    def choose_and_get_offer() -> None:
        caller.press("1")
        wait_until(lambda: offers_seen.extend(received(sock, "offer")) or offers_seen, message="offer")

    statements = webhook_statements(choose_and_get_offer, monkeypatch)

    assert [s for s in statements if any(t in s for t in ("contact_phones", "contacts", "tickets"))] == []
    pop = offers_seen[0]["pop"]
    assert (pop["contact"]["name"], pop["vip"], pop["queue"]) == ("Vip Person", True, "Sales")
    assert [t["subject"] for t in pop["open_tickets"]] == ["Down again"]
    caller.hangup()


def test_a_card_learnt_too_long_before_the_offer_is_built_again(session, factory, redis_client, line):
    """A caller who waited minutes may have new tickets since the greeting: the pop reads the CRM again."""
    contact = factory.contact(phones=(VIP,), first_name="Long", last_name="Wait")
    agent = factory.user(skills={"sales": 5})
    call = factory.call(from_number=VIP)
    offers.remember_caller_card(session, redis_client, call.call_sid, VIP, now=1000.0)
    session.add(Ticket(subject="Opened while waiting", priority="normal", contact_id=contact.id))
    session.commit()

    offer = {"agent_id": agent.id, "call_sid": call.call_sid, "queue_id": line["Sales"].id,
             "expires_at": "2030-01-01T00:00:00+00:00", "from_number": VIP}
    fresh = offers.prepare_offer(session, redis_client, **offer, now=1000.0 + offers.CARD_FRESH_SECONDS - 1)
    late = offers.prepare_offer(session, redis_client, **offer, now=1000.0 + offers.CARD_FRESH_SECONDS + 1)

    assert fresh["pop"]["open_tickets"] == []
    assert [t["subject"] for t in late["pop"]["open_tickets"]] == ["Opened while waiting"]


def test_a_first_time_callers_pop_reads_no_history_and_a_known_callers_shows_it(session, factory, redis_client,
                                                                                   line, monkeypatch):
    """Whether the caller has other calls is learnt with the card, in the IVR: a first-time caller's pop has no
    history to read on the offer's path, nor the agent's scope to load."""
    agent = factory.user(skills={"sales": 5})
    first_timer = factory.call(from_number="+14155550177")
    factory.call(from_number=VIP, created_at=datetime(2026, 11, 2, 9, 0, tzinfo=UTC))  # missed: anyone may see it
    again = factory.call(from_number=VIP)
    offers.remember_caller_card(session, redis_client, first_timer.call_sid, first_timer.from_number, now=1000.0)
    offers.remember_caller_card(session, redis_client, again.call_sid, again.from_number, now=1000.0)

    def offer(call):
        return offers.prepare_offer(session, redis_client, agent_id=agent.id, call_sid=call.call_sid,
                                    queue_id=line["Sales"].id, expires_at="2030-01-01T00:00:00+00:00",
                                    from_number=call.from_number, now=1001.0)

    first_pop = webhook_statements(lambda: offer(first_timer), monkeypatch)
    known_pop = webhook_statements(lambda: offer(again), monkeypatch)

    history_reads = [[s for s in statements if "FROM calls" in s and "ORDER BY" in s]
                     for statements in (first_pop, known_pop)]
    assert [len(reads) for reads in history_reads] == [0, 1]
    assert [s for s in first_pop if "FROM users" in s] == []  # nor the agent, whose scope the history needs
    assert offers.stored_offer(redis_client, first_timer.call_sid)["pop"]["history"] == []
    known = offers.stored_offer(redis_client, again.call_sid)["pop"]
    assert [h["at"][:10] for h in known["history"]] == ["2026-11-02"]
    assert "earlier_calls" not in known  # a fact for the builder, not for the console
