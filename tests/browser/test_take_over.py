"""Take over from the wallboard: a supervisor listening to their agent's call presses "Take over"; the carrier's
conference then has the caller and the supervisor, not the agent, whose console says who took the call."""

from __future__ import annotations

from playwright.sync_api import expect

from tests.browser.conftest import shot
from tests.browser.test_coaching import _participants, supervised_support_call
from tests.support.servers import wait_until


def test_a_supervisor_takes_over_a_call_from_the_wallboard(session, factory, carrier, open_page, dispositions,
                                                           request):
    alice, board, console, caller, room = supervised_support_call(session, factory, carrier, open_page)
    agent_leg = next(sid for sid in _participants(carrier, room) if sid != caller.sid)

    card = board.locator(f'.agent-card[data-agent="{alice.id}"]')
    card.locator("button[data-mode=listen]").click()
    wait_until(lambda: len(_participants(carrier, room)) == 3, message="supervisor listening")
    expect(board.locator("#monitor-take-over")).to_be_visible()
    board.click("#monitor-take-over")

    expect(board.locator("#monitor-status")).to_contain_text("You took over the call")
    wait_until(lambda: agent_leg not in _participants(carrier, room), message="the agent's leg left")
    legs = _participants(carrier, room)
    supervisor = next(p for p in legs.values() if (p.label or "").startswith("supervisor"))
    assert set(legs) == {caller.sid, supervisor.call.sid}
    assert not supervisor.muted and legs[caller.sid].hears(supervisor) and supervisor.hears(legs[caller.sid])
    expect(console.locator("#messages")).to_contain_text("Taken over by Sam Supervisor")
    shot(console, request, "01-taken-over")

    board.click("#monitor-leave")  # after a take-over: hangs up the call
    wait_until(lambda: not _participants(carrier, room), message="the call ended")
