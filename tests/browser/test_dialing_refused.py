"""An agent clicks to call a contact whose number is on the do-not-call list: the console says why, nothing rings."""

from __future__ import annotations

from playwright.sync_api import expect
from sqlalchemy import select

from callcenter.models import DialAttempt, DoNotCall
from tests.browser.conftest import login, shot

BLOCKED = "+14155550177"


def test_the_console_says_why_a_number_cannot_be_dialled(session, factory, carrier, open_page, request):
    alice = factory.user(username="alice")
    factory.contact(phones=(BLOCKED,), first_name="Erin", last_name="Quiet", owner_id=alice.id)
    session.add(DoNotCall(phone_e164=BLOCKED, source="internal", reason="asked not to be called"))
    session.commit()

    open_page.expect_error(r"status of 409 \(CONFLICT\) \(http://[^)]*/api/v1/calls\)")  # Chromium logs the refusal
    console = open_page("agent")
    login(console, "alice")
    expect(console).to_have_url("/console")
    expect(console.locator("#connection")).to_have_text("Connected")
    console.fill("#contact-search", "Erin")
    console.locator("#contact-results li.clickable", has_text="Erin Quiet").click()
    console.click(f'#customer-phones button[data-number="{BLOCKED}"]')

    expect(console.locator("#messages .notice.error")).to_have_text("This number is on our do-not-call list")
    shot(console, request, "refused")
    session.expire_all()
    [row] = session.scalars(select(DialAttempt).where(DialAttempt.phone_e164 == BLOCKED)).all()
    assert (row.allowed, row.reason, row.actor_id) == (False, "dnc_internal", alice.id)
    assert not any(c.to == BLOCKED for c in carrier.calls.values())
