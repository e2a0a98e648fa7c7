"""The console's recording controls in the browser: on a queue that records on demand the agent starts, pauses and
resumes the recording from the call card, and the carrier follows."""

from __future__ import annotations

from playwright.sync_api import expect

from callcenter.services.interactions import conference_name
from tests.browser.conftest import NUMBER, login, shot
from tests.support.servers import wait_until


def _running(carrier, call_sid: str):
    with carrier.cond:
        found = [r for r in carrier.recordings.values() if r.call_sid == call_sid]
    return found[-1] if found else None


def test_an_agent_starts_pauses_and_resumes_the_recording_from_the_call_card(session, factory, carrier, open_page,
                                                                             dispositions, request):
    line = factory.demo_line()
    line["Support"].recording_policy = "on_demand"
    session.commit()
    factory.user(skills={"support": 5}, username="alice")
    page = open_page("alice")
    login(page, "alice")
    expect(page.locator("#softphone-state")).to_have_text("Softphone ready")
    page.select_option("#state-select", "available")

    caller = carrier.dial("+14155550177", NUMBER)
    caller.wait_for_say("For sales, press 1")
    caller.press("2")
    caller.wait_for_say("If something is not working")
    caller.press("1")
    caller.wait_for_say("This call may be recorded")
    expect(page.locator("#accept")).to_be_enabled()
    page.click("#accept")
    expect(page.locator("#call-status")).to_have_text("On call")
    wait_until(lambda: (c := carrier.conference(conference_name(caller.sid))) is not None and len(c.active()) == 2,
               message="caller and agent bridged")

    expect(page.locator("#recording-state")).to_have_text("Not recording")
    assert _running(carrier, caller.sid) is None  # on demand: nothing until the agent asks
    page.click("#recording-start")
    expect(page.locator("#recording-state")).to_have_text("Recording")
    assert _running(carrier, caller.sid).status == "in-progress"
    page.click("#recording-pause")
    expect(page.locator("#recording-state")).to_have_text("Recording paused")
    assert _running(carrier, caller.sid).status == "paused"
    shot(page, request, "01-paused")
    page.click("#recording-resume")
    expect(page.locator("#recording-state")).to_have_text("Recording")
    assert _running(carrier, caller.sid).status == "in-progress"
    expect(page.locator("#recording-start")).to_be_hidden()

    caller.hangup()
    wait_until(lambda: _running(carrier, caller.sid).status == "completed", message="the recording ended with the call")
