"""Reloading the console in the middle of a call loses nothing: the softphone is rung back into the same
conference and the caller never leaves it (checked on the emulator's side)."""

from __future__ import annotations

from playwright.sync_api import expect

from callcenter.redis_conn import get_redis
from callcenter.services import agent_state
from callcenter.services.interactions import conference_name
from tests.browser.conftest import NUMBER, login, shot
from tests.support.servers import wait_until

CALLER = "+14155550188"


def test_reload_during_a_call_rejoins_the_same_conference(app, factory, carrier, open_page, request):
    factory.demo_line()
    alice = factory.user(skills={"sales": 5}, username="alice")
    factory.contact(phones=(CALLER,), first_name="Ravi", last_name="Patel")
    r = get_redis(app)
    page = open_page("agent")
    login(page, "alice")
    expect(page.locator("#softphone-state")).to_have_text("Softphone ready")
    page.select_option("#state-select", "available")
    expect(page.locator("#state-badge")).to_have_text("Available")

    caller = carrier.dial(CALLER, NUMBER)
    caller.wait_for_say("For sales, press 1")
    caller.press("1")
    expect(page.locator("#offer-name")).to_have_text("Ravi Patel")
    expect(page.locator("#accept")).to_be_enabled()
    page.click("#accept")
    expect(page.locator("#call-status")).to_have_text("On call")
    room = conference_name(caller.sid)
    wait_until(lambda: (c := carrier.conference(room)) is not None and len(c.active()) == 2,
               message="caller and agent bridged")

    page.reload()

    expect(page.locator("#call-status")).to_have_text("On call", timeout=15_000)
    wait_until(lambda: len(carrier.conference(room).active()) == 2, message="agent back in the conference")
    assert caller.status == "in-progress"
    assert not [e for e in caller.events if e.get("type") == "conference" and e.get("event") == "left"]
    assert agent_state.get_presence(r, alice.id).state == "on_call"
    shot(page, request, "rejoined")

    page.keyboard.press("Alt+KeyH")
    caller.wait_ended()
    expect(page.locator("#wrapup")).to_be_visible()
