"""A warm transfer between two agents in the browser; the caller stays connected throughout (carrier's view)."""

from __future__ import annotations

from playwright.sync_api import expect

from callcenter.services import agent_state, calls
from callcenter.services.interactions import conference_name
from tests.browser.conftest import NUMBER, login, shot
from tests.support.servers import wait_until


def _live_conference_of(carrier, call_sid: str):
    """The live conference the call is in, on the carrier's side, or None."""
    with carrier.cond:
        for conference in carrier.conferences.values():
            if conference.status != "completed" and any(p.call.sid == call_sid for p in conference.active()):
                return conference
    return None


def test_warm_transfer_keeps_the_caller_connected(app, session, factory, carrier, open_page, dispositions, request):
    factory.demo_line()
    alice = factory.user(skills={"support": 5}, username="alice")
    bob = factory.user(skills={"sales": 5}, username="bob")
    factory.contact(phones=("+14155550177",), first_name="Erin", last_name="Kay")

    alice_page, bob_page = open_page("alice"), open_page("bob")
    for page, name in ((alice_page, "alice"), (bob_page, "bob")):
        login(page, name)
        expect(page.locator("#softphone-state")).to_have_text("Softphone ready")
        page.select_option("#state-select", "available")
        expect(page.locator("#state-badge")).to_have_text("Available")

    caller = carrier.dial("+14155550177", NUMBER)
    caller.wait_for_say("For sales, press 1")
    caller.press("2")
    caller.wait_for_say("If something is not working")
    caller.press("1")
    expect(alice_page.locator("#offer-name")).to_have_text("Erin Kay")
    expect(alice_page.locator("#accept")).to_be_enabled()
    alice_page.click("#accept")
    expect(alice_page.locator("#call-status")).to_have_text("On call")
    wait_until(lambda: (c := carrier.conference(conference_name(caller.sid))) is not None and len(c.active()) == 2,
               message="caller and Alice bridged")

    # Alice consults Bob: the caller waits on hold, Bob's softphone rings with a consult card.
    alice_page.click("#consult")
    expect(alice_page.locator("#transfer-progress")).to_be_visible()
    expect(bob_page.locator("#incoming-card")).to_be_visible()
    expect(bob_page.locator("#incoming-title")).to_contain_text("Consult")
    bob_page.click("#incoming-accept")
    expect(bob_page.locator("#call-status")).to_have_text("On call")
    room = carrier.conference(conference_name(caller.sid))
    wait_until(lambda: len(room.active()) == 3, message="Bob in the consultation")
    assert [p.hold for p in room.active() if p.call.sid == caller.sid] == [True]
    shot(alice_page, request, "01-consulting")

    # Alice completes: she leaves and wraps up; Bob and the caller go on talking.
    alice_page.click("#transfer-complete")
    expect(alice_page.locator("#wrapup")).to_be_visible()
    wait_until(lambda: (c := _live_conference_of(carrier, caller.sid)) is not None and c.friendly_name !=
               conference_name(caller.sid) and len(c.active()) == 2, message="caller and Bob in a new conference")
    assert caller.status == "in-progress"
    assert not [p for p in _live_conference_of(carrier, caller.sid).active() if p.hold]
    # The ACD follows: Bob now has the call, Alice is wrapping up.
    r = app.extensions["callcenter.redis"]
    wait_until(lambda: (agent_state.get_presence(r, bob.id).state, agent_state.get_presence(r, alice.id).state)
               == ("on_call", "wrap_up"), message="Bob on the call, Alice wrapping up")
    shot(bob_page, request, "02-transferred")

    bob_page.click("#hangup")
    caller.wait_ended()
    wait_until(lambda: agent_state.get_presence(r, bob.id).state == "wrap_up",
               message="Bob in wrap-up once the transferred call ended")
    statuses = [e.get("status") for e in caller.events if e.get("type") == "ended"]
    assert statuses == ["completed"], caller.events
    session.expire_all()
    record = calls.get_call(session, caller.sid)
    assert [e.kind for e in calls.call_events(session, record)].count("transferred") == 1
