"""Acceptance, in a real browser against the real server and the emulated carrier: a new caller's contact is
created from the pop and its timeline shows the call; a caller whose number several contacts share is picked
from the pop, the call is linked to that contact once (a second pick and a reload log nothing more), and the
pop shows each candidate's customer segment."""

from __future__ import annotations

from playwright.sync_api import expect
from sqlalchemy import select

from callcenter.models import AuditEntry, CallEvent, Contact, ContactPhone
from callcenter.services import calls, rfm
from tests.browser.conftest import NUMBER, login, shot

NEW_CALLER = "+14155550177"
SHARED = "+14155550188"


def _ready(console, username: str) -> None:
    login(console, username)
    expect(console).to_have_url("/console")
    expect(console.locator("#softphone-state")).to_have_text("Softphone ready")
    console.select_option("#state-select", "available")
    expect(console.locator("#state-badge")).to_have_text("Available")


def _dial_sales(carrier, number: str):
    caller = carrier.dial(number, NUMBER)
    caller.wait_for_say("For sales, press 1")
    caller.press("1")
    return caller


def _hang_up_and_wrap_up(console, caller) -> None:
    console.keyboard.press("Alt+H")
    caller.wait_ended()
    expect(console.locator("#wrapup")).to_be_visible()
    console.select_option("#disposition", "resolved")
    console.click("#wrapup-form button[type=submit]")
    expect(console.locator("#wrapup")).to_be_hidden()


def _link_events(session, call_sid: str) -> list[dict]:
    session.expire_all()
    record = calls.get_call(session, call_sid)
    return [e.data for e in session.scalars(select(CallEvent).where(CallEvent.call_id == record.id,
                                                                    CallEvent.kind == "contact_linked"))]


def test_a_new_callers_contact_is_created_from_the_pop_and_its_timeline_shows_the_call(
        app, session, factory, carrier, open_page, dispositions, request):
    factory.demo_line()
    alice = factory.user(skills={"sales": 5}, username="alice")
    console = open_page("agent")
    _ready(console, "alice")

    caller = _dial_sales(carrier, NEW_CALLER)
    expect(console.locator("#offer-name")).to_have_text("New caller")
    card = console.locator("#pop-new-contact")
    expect(card).to_be_visible()
    expect(console.locator("#pnc-phone")).to_contain_text("415-555-0177")
    shot(console, request, "01-new-caller")
    expect(console.locator("#accept")).to_be_enabled()  # the softphone rings after the pop
    console.keyboard.press("Alt+A")
    expect(console.locator("#call-status")).to_have_text("On call")

    console.fill("#pnc-first", "Minh")
    console.fill("#pnc-last", "Nguyen")
    console.click("#pnc-create")
    expect(console.locator("#pop-contact-status")).to_have_text("Contact created and linked to this call")
    expect(card).to_be_hidden()
    expect(console.locator("#customer-name")).to_have_text("Minh Nguyen")
    expect(console.locator("#customer-phones li")).to_have_count(1)
    expect(console.locator("#customer-phones li").first).to_contain_text("415-555-0177")
    # The timeline, read from the server for the new contact, shows this very call.
    expect(console.locator("#timeline li")).to_have_count(1)
    expect(console.locator("#timeline li").first).to_contain_text("Call in · Sales · ")
    shot(console, request, "02-created")

    session.expire_all()
    contact = session.scalar(select(Contact).join(ContactPhone).where(ContactPhone.e164 == NEW_CALLER))
    assert (contact.display_name, contact.owner_id) == ("Minh Nguyen", alice.id)
    assert calls.get_call(session, caller.sid).contact_id == contact.id
    assert [e["contact_id"] for e in _link_events(session, caller.sid)] == [contact.id]

    # A reload in the middle of the call: the console finds the call already linked and shows the contact
    # instead of offering to create it again.
    console.reload()
    expect(console.locator("#call-status")).to_have_text("On call", timeout=15_000)
    expect(console.locator("#customer-name")).to_have_text("Minh Nguyen")
    expect(card).to_be_hidden()

    _hang_up_and_wrap_up(console, caller)
    assert len(session.scalars(select(ContactPhone).where(ContactPhone.e164 == NEW_CALLER)).all()) == 1
    assert [e["contact_id"] for e in _link_events(session, caller.sid)] == [contact.id]


def test_picking_one_of_several_contacts_links_the_call_once(
        app, session, factory, carrier, open_page, dispositions, request):
    factory.demo_line()
    alice = factory.user(skills={"sales": 5}, username="alice")
    wei = factory.contact(phones=(SHARED,), first_name="Li", last_name="Wei", owner_id=alice.id)
    na = factory.contact(phones=(SHARED,), first_name="Li", last_name="Na")
    rfm.compute_all(session)  # neither was ever in touch: both hibernating
    console = open_page("agent")
    _ready(console, "alice")

    caller = _dial_sales(carrier, SHARED)
    expect(console.locator("#offer-name")).to_have_text("2 possible contacts")
    candidates = console.locator("#candidate-list li")
    expect(candidates).to_have_count(2)
    expect(candidates.locator("[data-segment]")).to_have_text(["Segment: Hibernating", "Segment: Hibernating"])
    expect(console.locator("#pop-new-contact")).to_be_hidden()
    expect(console.locator("#accept")).to_be_enabled()  # the softphone rings after the pop
    console.keyboard.press("Alt+A")
    expect(console.locator("#call-status")).to_have_text("On call")

    na_item = console.locator(f"#candidate-list li[data-contact='{na.id}']")
    na_item.get_by_role("button").click()
    expect(console.locator("#pop-contact-status")).to_have_text("The call is linked to Li Na")
    expect(na_item).to_have_class("picked")
    expect(na_item.get_by_role("button")).to_have_text("Linked to this call")
    expect(console.locator("#customer-name")).to_have_text("Li Na")
    expect(console.locator("#timeline li").first).to_contain_text("Call in · Sales · ")
    shot(console, request, "01-picked")
    # Picked again, then the page reloaded mid-call: still linked to Li Na, and logged once.
    na_item.get_by_role("button").click()
    expect(console.locator("#pop-contact-status")).to_have_text("The call is linked to Li Na")
    console.reload()
    expect(console.locator("#call-status")).to_have_text("On call", timeout=15_000)
    expect(console.locator(f"#candidate-list li[data-contact='{na.id}']")).to_have_class("picked")
    expect(console.locator(f"#candidate-list li[data-contact='{wei.id}']")).not_to_have_class("picked")
    expect(console.locator("#customer-name")).to_have_text("Li Na")
    shot(console, request, "02-reloaded")

    assert _link_events(session, caller.sid) == [{"contact_id": na.id, "agent_id": alice.id,
                                                  "previous_contact_id": None}]
    assert calls.get_call(session, caller.sid).contact_id == na.id
    assert len(session.scalars(select(AuditEntry).where(AuditEntry.action == "call.contact_linked")).all()) == 1

    _hang_up_and_wrap_up(console, caller)
    session.expire_all()
    assert calls.get_call(session, caller.sid).contact_id == na.id  # the wrap-up kept the pick
