"""Coaching end to end: a supervisor whispers to their agent on a live call; another team's supervisor neither sees
the agent nor can monitor the call."""

from __future__ import annotations

from playwright.sync_api import expect

from callcenter.services.interactions import conference_name
from tests.browser.conftest import NUMBER, login, shot
from tests.support.servers import wait_until

DANA = "+14155550100"


def _participants(carrier, name: str) -> dict:
    conference = carrier.conference(name)
    return {p.call.sid: p for p in conference.active()} if conference else {}


def supervised_support_call(session, factory, carrier, open_page):
    """Sam's wallboard, and his agent Alice's console on a Support call from Dana: (alice, board, console, caller,
    room)."""
    factory.demo_line()
    alice = factory.user(skills={"support": 5}, username="alice", team="Tier 1")
    sam = factory.user(role="supervisor", username="sam", team="Tier 1")
    sam.full_name = "Sam Supervisor"
    session.commit()

    board = open_page("sam")
    login(board, "sam")
    expect(board.locator("#connection")).to_have_text("Connected")
    console = open_page("alice")
    login(console, "alice")
    expect(console.locator("#softphone-state")).to_have_text("Softphone ready")
    console.select_option("#state-select", "available")

    caller = carrier.dial(DANA, NUMBER)
    caller.wait_for_say("For sales, press 1")
    caller.press("2")
    caller.wait_for_say("If something is not working")
    caller.press("1")
    expect(console.locator("#offer-card")).to_be_visible()
    expect(console.locator("#accept")).to_be_enabled()
    console.keyboard.press("Alt+A")
    expect(console.locator("#call-status")).to_have_text("On call")
    room = conference_name(caller.sid)
    wait_until(lambda: len(_participants(carrier, room)) == 2, message="caller and agent bridged")
    return alice, board, console, caller, room


def test_a_supervisor_whispers_to_their_agent_and_another_teams_supervisor_cannot(
        session, factory, carrier, open_page, dispositions, request):
    factory.user(role="supervisor", username="sue", team="Tier 2")
    alice, board, console, caller, room = supervised_support_call(session, factory, carrier, open_page)
    other_board = open_page("sue")
    login(other_board, "sue")
    expect(other_board.locator("#connection")).to_have_text("Connected")

    # Sam whispers: the agent hears him, the caller does not, and the console says so.
    card = board.locator(f'.agent-card[data-agent="{alice.id}"]')
    expect(card.locator(".st")).to_contain_text("On a call")
    card.locator("button[data-mode=whisper]").click()
    expect(board.locator("#monitor-status")).to_contain_text("Whisper")
    wait_until(lambda: len(_participants(carrier, room)) == 3, message="supervisor in the conference")
    legs = _participants(carrier, room)
    supervisor = next(p for p in legs.values() if (p.label or "").startswith("supervisor"))
    customer = legs[caller.sid]
    agent = next(p for p in legs.values() if p is not supervisor and p is not customer)
    wait_until(lambda: agent.hears(supervisor), message="the agent hears the whisper")
    assert supervisor.coaching and not customer.hears(supervisor)
    assert agent.hears(customer) and customer.hears(agent) and supervisor.hears(customer)
    expect(console.locator("#coached")).to_contain_text("Sam Supervisor is coaching you")
    shot(console, request, "01-coached")

    # Sue, of another team, does not see Alice, and the API refuses her before anything reaches the carrier.
    expect(other_board.locator(".agent-card")).to_have_count(0)
    open_page.expect_error(r"\[sue\] console\.error: Failed to load resource: .* 404 .*/monitor\)")
    refused = other_board.evaluate(
        "sid => CC.api('POST', '/calls/' + sid + '/monitor', {mode: 'listen'}).then(() => 0, e => e.status)",
        caller.sid)
    assert refused == 404
    assert len(_participants(carrier, room)) == 3

    # Sam leaves; the console's notice goes away and the call goes on.
    board.click("#monitor-leave")
    wait_until(lambda: len(_participants(carrier, room)) == 2, message="supervisor left")
    expect(console.locator("#coached")).to_be_hidden()
    caller.hangup()
