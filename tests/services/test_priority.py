"""Priority from the CRM: VIP contact or account, open urgent ticket, repeat caller within 24 hours."""

from __future__ import annotations

from datetime import timedelta

import pytest

from callcenter.models import Queue, Ticket, utcnow
from callcenter.services.priority import compute_priority

NUMBER = "+14155550123"


@pytest.fixture
def queue(session) -> Queue:
    queue = Queue(name="Support", base_priority=1,
                  priority_rules={"vip": 10, "open_urgent_ticket": 5, "repeat_caller_24h": 2})
    session.add(queue)
    session.commit()
    return queue


def add_ticket(session, contact, status="open", priority="urgent") -> Ticket:
    ticket = Ticket(subject="Broken", status=status, priority=priority, contact_id=contact.id)
    session.add(ticket)
    session.commit()
    return ticket


def test_a_stranger_gets_the_base_priority(session, queue):
    decision = compute_priority(session, queue, from_number=NUMBER)
    assert (decision.priority, decision.reasons, decision.contact_ids) == (1, (), ())


def test_vip_contact_or_vip_account_raise_priority(session, factory, queue):
    vip = factory.contact(phones=(NUMBER,), vip=True)
    assert compute_priority(session, queue, contact_ids=[vip.id]).reasons == ("vip",)

    account = factory.account(vip=True)
    member = factory.contact(account_id=account.id)
    decision = compute_priority(session, queue, contact_ids=[member.id])
    assert (decision.priority, decision.reasons) == (11, ("vip",))

    plain = factory.contact(account_id=factory.account().id)
    assert compute_priority(session, queue, contact_ids=[plain.id]).priority == 1


def test_contacts_are_found_by_number_when_not_given(session, factory, queue):
    vip = factory.contact(phones=(NUMBER,), vip=True)
    other = factory.contact(phones=(NUMBER,))
    decision = compute_priority(session, queue, from_number=NUMBER)
    assert decision.contact_ids == (vip.id, other.id)
    assert decision.reasons == ("vip",)


def test_only_an_open_or_pending_urgent_ticket_counts(session, factory, queue):
    contact = factory.contact()
    add_ticket(session, contact, status="resolved")
    add_ticket(session, contact, status="open", priority="high")
    assert compute_priority(session, queue, contact_ids=[contact.id]).reasons == ()

    add_ticket(session, contact, status="pending", priority="urgent")
    decision = compute_priority(session, queue, contact_ids=[contact.id])
    assert (decision.priority, decision.reasons) == (6, ("open_urgent_ticket",))


def test_repeat_caller_within_24_hours(session, factory, queue):
    now = utcnow()
    factory.call(call_sid="CAold", from_number=NUMBER, started_at=now - timedelta(hours=25))
    factory.call(call_sid="CAout", direction="outbound-api", from_number=NUMBER, started_at=now - timedelta(hours=1))
    factory.call(call_sid="CAother", from_number="+14155550999", started_at=now - timedelta(hours=1))
    factory.call(call_sid="CAnow", from_number=NUMBER, started_at=now)
    assert compute_priority(session, queue, from_number=NUMBER, now=now, exclude_call_sid="CAnow").reasons == ()

    factory.call(call_sid="CArecent", from_number=NUMBER, started_at=now - timedelta(hours=23))
    decision = compute_priority(session, queue, from_number=NUMBER, now=now, exclude_call_sid="CAnow")
    assert (decision.priority, decision.reasons) == (3, ("repeat_caller_24h",))
    # A call with no start time yet counts by its creation time.
    assert compute_priority(session, queue, from_number="+14155550999", now=now).reasons == ("repeat_caller_24h",)


def test_facts_add_up_and_rules_are_per_queue(session, factory, queue):
    now = utcnow()
    contact = factory.contact(phones=(NUMBER,), vip=True)
    add_ticket(session, contact)
    factory.call(from_number=NUMBER, started_at=now - timedelta(hours=2))
    decision = compute_priority(session, queue, from_number=NUMBER, now=now)
    assert (decision.priority, decision.reasons) == (18, ("vip", "open_urgent_ticket", "repeat_caller_24h"))

    sales = Queue(name="Sales", base_priority=0, priority_rules={"vip": 3, "repeat_caller_24h": "junk"})
    session.add(sales)
    session.commit()
    decision = compute_priority(session, sales, from_number=NUMBER, now=now)
    assert (decision.priority, decision.reasons) == (3, ("vip",))
