"""An agent calls a contact from the console; the customer hangs up; the console opens the wrap-up, the agent picks
a disposition and is available again (issue 10 part 6)."""

from __future__ import annotations

from playwright.sync_api import expect
from sqlalchemy import select

from callcenter.models import Call
from callcenter.redis_conn import get_redis
from callcenter.services import agent_state
from tests.browser.conftest import login, shot
from tests.support.servers import wait_until

CUSTOMER = "+14155550166"


def test_click_to_call_ends_in_wrap_up_then_available(app, session, factory, carrier, open_page, dispositions,
                                                       request):
    alice = factory.user(username="alice")
    factory.contact(phones=(CUSTOMER,), first_name="Omar", last_name="Outbound", owner_id=alice.id)
    carrier.phone(CUSTOMER, answer="auto", ring_seconds=0.2)
    r = get_redis(app)

    console = open_page("agent")
    login(console, "alice")
    expect(console).to_have_url("/console")
    expect(console.locator("#softphone-state")).to_have_text("Softphone ready")
    console.fill("#contact-search", "Omar")
    console.locator("#contact-results li.clickable", has_text="Omar Outbound").click()
    console.click(f'#customer-phones button[data-number="{CUSTOMER}"]')

    expect(console.locator("#call-status")).to_have_text("On call")
    wait_until(lambda: agent_state.get_presence(r, alice.id).state == "on_call", message="alice is on the call")
    shot(console, request, "on-call")
    session.expire_all()
    call = session.scalar(select(Call).where(Call.to_number == CUSTOMER, Call.agent_id == alice.id))
    carrier.hangup(call.call_sid)  # the customer hangs up

    expect(console.locator("#wrapup")).to_be_visible()
    expect(console.locator("#state-badge")).to_contain_text("Wrap-up")
    console.click("#wrapup-form button[type=submit]")
    expect(console.locator("#wrapup-error")).to_have_text("Choose a disposition first.")
    console.select_option("#disposition", "sale")
    console.fill("#wrapup-notes", "Upgraded to fibre")
    console.click("#wrapup-form button[type=submit]")
    expect(console.locator("#wrapup")).to_be_hidden()
    expect(console.locator("#state-badge")).to_have_text("Available")
    shot(console, request, "available")
    session.expire_all()
    record = session.get(Call, call.id)
    assert (record.disposition.code, record.notes) == ("sale", "Upgraded to fibre")


def test_the_agent_hanging_up_an_outbound_call_opens_the_wrap_up(app, session, factory, carrier, open_page,
                                                                  dispositions):
    bob = factory.user(username="bob")
    factory.contact(phones=(CUSTOMER,), first_name="Olga", last_name="Outbound", owner_id=bob.id)
    carrier.phone(CUSTOMER, answer="auto", ring_seconds=0.2)

    console = open_page("agent")
    login(console, "bob")
    expect(console.locator("#softphone-state")).to_have_text("Softphone ready")
    console.fill("#contact-search", "Olga")
    console.locator("#contact-results li.clickable", has_text="Olga Outbound").click()
    console.click(f'#customer-phones button[data-number="{CUSTOMER}"]')
    expect(console.locator("#call-status")).to_have_text("On call")
    console.click("#hangup")

    expect(console.locator("#wrapup")).to_be_visible()
    console.select_option("#disposition", "resolved")
    console.click("#wrapup-form button[type=submit]")
    expect(console.locator("#state-badge")).to_have_text("Available")
    assert agent_state.get_presence(get_redis(app), bob.id).state == "available"
