"""A knowledge base article suggested in the pop is sent to the caller by SMS after the call, and the emulated
carrier received it: in a real browser against the real server."""

from __future__ import annotations

from playwright.sync_api import expect
from sqlalchemy import select

from callcenter.models import KbArticle, OutboundMessage
from callcenter.services import calls, knowledge_base
from callcenter.telephony.sim.messaging import received_by
from tests.browser.conftest import NUMBER, login, shot
from tests.support.servers import wait_until

DANA = "+14155550100"


def test_an_article_suggested_in_the_pop_is_texted_to_the_caller_after_the_call(
        app, session, factory, carrier, open_page, dispositions, request):
    queues = factory.demo_line()
    alice = factory.user(skills={"support": 5}, username="alice", team="Tier 1")
    editor = factory.user(role="supervisor", username="sam", team="Tier 1")
    factory.contact(phones=(DANA,), first_name="Dana", last_name="Lee", owner_id=alice.id)
    category = knowledge_base.ensure_category(session, "Connectivity", queue_id=queues["Support"].id)
    session.commit()
    article = knowledge_base.create_article(session, editor, {
        "title": "Router keeps rebooting", "category": category.name, "status": "published",
        "solution": "Unplug the router for 30 seconds, then update its firmware."})
    knowledge_base.create_article(session, editor, {"title": "Sales: upgrade offers", "category": "Sales",
                                                    "status": "published"})

    console = open_page("agent")
    login(console, "alice")
    expect(console).to_have_url("/console")
    expect(console.locator("#softphone-state")).to_have_text("Softphone ready")
    expect(console.locator("#kb-panel")).to_be_visible()
    console.select_option("#state-select", "available")
    expect(console.locator("#state-badge")).to_have_text("Available")

    # Dana dials in and picks support > "not working": the Support queue, whose category has the article.
    caller = carrier.dial(DANA, NUMBER)
    caller.wait_for_say("For sales, press 1")
    caller.press("2")
    caller.wait_for_say("If something is not working")
    caller.press("1")

    expect(console.locator("#offer-card")).to_be_visible()
    suggestions = console.locator("#kb-suggestions li[data-article]")
    expect(suggestions).to_have_count(1)
    expect(suggestions.first.locator("[data-kb=open]")).to_have_text("Router keeps rebooting")
    shot(console, request, "01-suggested")
    expect(console.locator("#accept")).to_be_enabled()
    console.keyboard.press("Alt+A")
    expect(console.locator("#call-status")).to_have_text("On call")

    # The agent reads it during the call (a use), hangs up, and texts it to Dana during wrap-up.
    suggestions.first.locator("[data-kb=open]").click()
    expect(console.locator("#kb-article-solution")).to_have_text(
        "Unplug the router for 30 seconds, then update its firmware.")
    console.keyboard.press("Alt+H")
    caller.wait_ended()
    expect(console.locator("#wrapup")).to_be_visible()
    suggestions.first.locator("[data-kb=sms]").click()
    expect(console.locator("#kb-status")).to_contain_text("sent by SMS to +14155550100")
    shot(console, request, "02-sent")

    texts = wait_until(lambda: received_by(carrier, DANA), message="the emulator received the text")
    assert [(m.to, m.from_, m.body) for m in texts] == [
        (DANA, NUMBER, "Router keeps rebooting\nUnplug the router for 30 seconds, then update its firmware.")]
    # Dana's phone on the emulator's caller page shows it too.
    phone = open_page("caller")
    phone.goto("/sim/caller")
    phone.fill("#from", DANA)
    expect(phone.locator("#texts li")).to_have_text(
        [f"From {NUMBER}: Router keeps rebooting\nUnplug the router for 30 seconds, then update its firmware."])
    shot(phone, request, "03-phone")

    session.expire_all()
    record = calls.get_call(session, caller.sid)
    sent = session.scalars(select(OutboundMessage)).all()
    assert [(m.channel, m.status, m.provider_sid, m.call_id, m.sender_id, m.article_id) for m in sent] == [
        ("sms", "sent", texts[0].sid, record.id, alice.id, article.id)]
    assert knowledge_base.uses(session, article.id) == {"viewed": 1, "sent": 1}
    assert session.get(KbArticle, article.id).usage_count == 2

    console.select_option("#disposition", "resolved")
    console.click("#wrapup-form button[type=submit]")
    expect(console.locator("#wrapup")).to_be_hidden()
