"""The CRM facts that set a caller's place in line are learnt while the caller hears the menu, not when they choose."""

from __future__ import annotations

from sqlalchemy import event

from callcenter.extensions import db
from callcenter.models import Ticket
from callcenter.services import acd, routing
from tests.inbound.conftest import NUMBER
from tests.support.servers import wait_until

VIP = "+14155550122"


def _statements_during(action) -> list[str]:
    seen: list[str] = []

    def record(_conn, _cursor, statement, *_args) -> None:
        seen.append(statement)

    event.listen(db.engine, "before_cursor_execute", record)
    try:
        action()
    finally:
        event.remove(db.engine, "before_cursor_execute", record)
    return seen


def test_joining_the_queue_reads_nothing_from_the_crm_when_the_greeting_learnt_the_caller(
        session, factory, sim_carrier, redis_client, line):
    vip = factory.contact(phones=(VIP,), first_name="Vip", vip=True)
    session.add(Ticket(subject="Down again", priority="urgent", contact_id=vip.id))
    session.commit()
    caller = sim_carrier.dial(VIP, NUMBER)
    caller.wait_for_say("For sales")
    assert redis_client.exists(f"cc:call:{caller.sid}:caller_facts")

    statements = _statements_during(lambda: (caller.press("1"), wait_until(
        lambda: acd.get_entry(redis_client, caller.sid) is not None, message="caller queued")))

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
