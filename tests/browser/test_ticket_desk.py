"""The service desk in a real browser: a ticket created at wrap-up escalates to the supervisor, who finds it in the
list, assigns it, and it is resolved."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from playwright.sync_api import expect
from sqlalchemy import select

from callcenter.models import Ticket, TicketEvent
from callcenter.services import calls
from tests.browser.conftest import NUMBER, login, shot
from tests.support.servers import wait_until
from workers.tickets import escalate_due_tickets

DANA = "+14155550100"


def test_a_ticket_created_at_wrap_up_is_found_assigned_and_resolved(
        app, session, factory, carrier, open_page, dispositions, request):
    factory.demo_line()
    alice = factory.user(skills={"support": 5}, username="alice", team="Tier 1")
    bob = factory.user(username="bob", team="Tier 1")
    factory.user(role="supervisor", username="sam", team="Tier 1")
    dana = factory.contact(phones=(DANA,), first_name="Dana", last_name="Lee")

    # Alice takes Dana's call and opens a ticket at wrap-up.
    console = open_page("agent")
    login(console, "alice")
    expect(console.locator("#softphone-state")).to_have_text("Softphone ready")
    console.select_option("#state-select", "available")
    caller = carrier.dial(DANA, NUMBER)
    caller.wait_for_say("For sales, press 1")
    caller.press("2")
    caller.wait_for_say("If something is not working")
    caller.press("1")
    expect(console.locator("#offer-name")).to_have_text("Dana Lee")
    expect(console.locator("#accept")).to_be_enabled()
    console.keyboard.press("Alt+A")
    expect(console.locator("#call-status")).to_have_text("On call")
    console.keyboard.press("Alt+H")
    caller.wait_ended()
    expect(console.locator("#wrapup")).to_be_visible()
    # Quick entry from the console carries the call and its contact.
    with console.expect_popup() as popup:
        console.click("#new-ticket-link")
    quick = popup.value
    expect(quick.locator("#new-ticket input[name=call_id]")).to_have_count(1)
    expect(quick.locator("#new-ticket input[name=contact_id]")).to_have_value(str(dana.id))
    quick.close()
    console.select_option("#disposition", "follow_up")
    console.check("#want-ticket")
    console.fill("#ticket-subject", "Fibre box blinks red")
    console.select_option("#ticket-priority", "high")
    console.click("#wrapup-form button[type=submit]")
    expect(console.locator("#wrapup")).to_be_hidden()
    shot(console, request, "01-wrapped-up-with-ticket")

    session.expire_all()
    record = calls.get_call(session, caller.sid)
    ticket = session.scalar(select(Ticket).where(Ticket.call_id == record.id))
    assert (ticket.status, ticket.assignee_id, ticket.contact_id) == ("new", alice.id, dana.id)

    # Nobody works it: the escalation job, a month later, hands it to the supervisor and tells Alice's console.
    assert escalate_due_tickets(now=datetime.now(UTC) + timedelta(days=30))["reassigned"] == [ticket.id]
    expect(console.locator("#messages")).to_contain_text(f"Ticket #{ticket.id} is past its deadline")

    # The supervisor finds it in the list by searching, opens it, gives it to Bob and resolves it.
    desk = open_page("supervisor")
    login(desk, "sam")
    desk.goto("/tickets")
    desk.fill("#q", "fibre box")
    desk.select_option("#status", "new")
    desk.click("#ticket-filters button[type=submit]")
    row = desk.locator(f'#ticket-list tr[data-ticket-id="{ticket.id}"]')
    expect(row).to_have_count(1)
    expect(desk.locator("#ticket-list tbody tr")).to_have_count(1)
    shot(desk, request, "02-found-in-the-list")
    row.locator("a").first.click()
    expect(desk.locator("#ticket")).to_have_attribute("data-status", "new")
    desk.select_option("#assignee_id", str(bob.id))
    desk.click("#assign-form button[type=submit]")
    expect(desk.locator("#assignee_id")).to_have_value(str(bob.id))
    desk.fill("#note-body", "Bob handles fibre")
    desk.click("#note-form button[type=submit]")
    expect(desk.locator('#ticket-timeline li[data-kind="note"]')).to_have_count(1)
    desk.click('#status-buttons button[data-status="resolved"]')
    expect(desk.locator("#ticket")).to_have_attribute("data-status", "resolved")
    expect(desk.locator('#status-buttons button[data-status="closed"]')).to_be_visible()
    shot(desk, request, "03-resolved")

    session.expire_all()
    done = session.get(Ticket, ticket.id)
    assert (done.status, done.assignee_id) == ("resolved", bob.id) and done.resolved_at is not None
    kinds = wait_until(lambda: list(session.scalars(select(TicketEvent.kind).where(TicketEvent.ticket_id == ticket.id)
                                                     .order_by(TicketEvent.id))), message="ticket events")
    assert kinds == ["created", "escalated", "assigned", "note", "status"]
