"""The day of an agent and a supervisor, in a real browser against the real server and the emulated carrier."""

from __future__ import annotations

from playwright.sync_api import expect
from sqlalchemy import select

from callcenter.models import Callback, Ticket
from callcenter.redis_conn import get_redis
from callcenter.services import agent_state, calls
from callcenter.services.interactions import conference_name
from tests.browser.conftest import NUMBER, login, shot
from tests.support.servers import wait_until

DANA = "+14155550100"


def _participants(carrier, name: str) -> dict:
    """The live participants of a conference on the carrier's side, by CallSid."""
    conference = carrier.conference(name)
    return {p.call.sid: p for p in conference.active()} if conference else {}


def test_agent_takes_a_call_end_to_end_while_the_supervisor_watches_and_barges(
        app, session, factory, carrier, open_page, dispositions, request):
    factory.demo_line()
    alice = factory.user(skills={"support": 5}, username="alice", team="Tier 1")
    factory.user(role="supervisor", username="sam", team="Tier 1")
    dana = factory.contact(phones=(DANA,), first_name="Dana", last_name="Lee")
    session.add(Ticket(subject="Router keeps rebooting", priority="urgent", contact_id=dana.id))
    session.commit()
    r = get_redis(app)

    # The supervisor opens the wallboard.
    board = open_page("supervisor")
    login(board, "sam")
    expect(board).to_have_url("/wallboard")
    expect(board.locator("#connection")).to_have_text("Connected")
    support_waiting = board.locator('tr[data-queue="Support"] td[data-field="waiting"]')
    expect(support_waiting).to_have_text("0")

    # The agent signs in and goes available.
    console = open_page("agent")
    login(console, "alice")
    expect(console).to_have_url("/console")
    expect(console.locator("#connection")).to_have_text("Connected")
    expect(console.locator("#softphone-state")).to_have_text("Softphone ready")
    console.select_option("#state-select", "away:break")
    expect(console.locator("#state-badge")).to_have_text("Away · Break")
    shot(console, request, "01-away")

    # A caller dials in and picks support > "not working"; nobody is available yet, so they wait.
    caller = carrier.dial(DANA, NUMBER)
    caller.wait_for_say("For sales, press 1")
    caller.press("2")
    caller.wait_for_say("If something is not working")
    caller.press("1")
    expect(support_waiting).to_have_text("1")
    shot(board, request, "02-wallboard-waiting")

    console.select_option("#state-select", "available")
    # The pop shows the caller's name and open ticket before the softphone rings; the agent answers.
    offer = console.locator("#offer-card")
    expect(offer).to_be_visible()
    expect(console.locator("#offer-name")).to_have_text("Dana Lee")
    expect(console.locator("#offer-tickets")).to_contain_text("Router keeps rebooting")
    expect(console.locator("#offer-queue")).to_contain_text("Support")
    expect(support_waiting).to_have_text("0")
    expect(console.locator("#accept")).to_be_enabled()
    shot(console, request, "03-offer")
    console.keyboard.press("Alt+A")
    expect(console.locator("#call-status")).to_have_text("On call")
    room = conference_name(caller.sid)
    wait_until(lambda: len(_participants(carrier, room)) == 2, message="caller and agent bridged")
    assert agent_state.get_presence(r, alice.id).state == "on_call"

    # Mute, hold, resume.
    console.keyboard.press("Alt+M")
    expect(console.locator("#mute")).to_have_class("secondary active")
    console.click("#mute")
    expect(console.locator("#mute")).not_to_have_class("secondary active")
    console.click("#hold")
    expect(console.locator("#call-status")).to_have_text("On hold")
    wait_until(lambda: _participants(carrier, room)[caller.sid].hold, message="caller on hold")
    console.click("#hold")
    expect(console.locator("#call-status")).to_have_text("On call")
    wait_until(lambda: not _participants(carrier, room)[caller.sid].hold, message="caller resumed")
    shot(console, request, "04-on-call")

    # The supervisor sees the call and barges in.
    card = board.locator(f'.agent-card[data-agent="{alice.id}"]')
    expect(card.locator(".st")).to_contain_text("On a call")
    card.locator("button[data-mode=barge]").click()
    expect(board.locator("#monitor-status")).to_contain_text("barge")
    wait_until(lambda: len(_participants(carrier, room)) == 3, message="supervisor in the conference")
    supervisor_leg = [p for p in _participants(carrier, room).values() if p.label and p.label.startswith("supervisor")]
    assert supervisor_leg and not supervisor_leg[0].muted and not supervisor_leg[0].coaching
    shot(board, request, "05-barge")

    # The agent hangs up; wrap-up with notes that survive a reload, a disposition and a callback.
    console.keyboard.press("Alt+H")
    caller.wait_ended()
    expect(console.locator("#wrapup")).to_be_visible()
    console.fill("#wrapup-notes", "Router replaced under warranty")
    console.reload()
    expect(console.locator("#wrapup")).to_be_visible()
    expect(console.locator("#wrapup-notes")).to_have_value("Router replaced under warranty")
    console.click("#wrapup-form button[type=submit]")
    expect(console.locator("#wrapup-error")).to_have_text("Choose a disposition first.")
    console.select_option("#disposition", "follow_up")
    console.check("#want-callback")
    shot(console, request, "06-wrap-up")
    console.click("#wrapup-form button[type=submit]")
    expect(console.locator("#wrapup")).to_be_hidden()
    expect(console.locator("#state-badge")).to_have_text("Available")

    session.expire_all()
    record = calls.get_call(session, caller.sid)
    assert record.disposition.code == "follow_up" and record.notes == "Router replaced under warranty"
    callback = session.scalar(select(Callback).where(Callback.call_id == record.id))
    assert (callback.phone_e164, callback.status, callback.agent_id) == (DANA, "scheduled", alice.id)
