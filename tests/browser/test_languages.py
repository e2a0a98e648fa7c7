"""A Chinese-speaking agent and supervisor see every string in Chinese; an English agent sees the same call in
English. The pop names the caller's language (chosen in the IVR) in the reader's language."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from callcenter.services.ivr_flows import BILINGUAL_NUMBER, ensure_bilingual_flow
from tests.browser.conftest import NUMBER, login, shot

DANA = "+14155550100"
# Data and proper names the pages show as they are: people, queues, tickets, products, keys, numbers.
PROPER_NAMES = {"callcenter", "Alt", "VIP", "Li", "Wei", "Zhang", "Ming", "Ann", "Smith", "Dana", "Lee", "Support",
                "Sales", "Billing", "Tier", "Router", "keeps", "rebooting"}


def _english_leftovers(page: Page) -> list[str]:
    """ASCII words in the visible text (select options included) that are not proper names."""
    text = page.evaluate("""() => {
        const visible = e => e.offsetParent !== null || e.tagName === "BODY";
        const options = Array.from(document.querySelectorAll("select")).filter(visible)
          .flatMap(s => Array.from(s.options).map(o => o.textContent));
        const attributes = Array.from(document.querySelectorAll("[title],[placeholder],[aria-label]"))
          .filter(visible).map(e => [e.title, e.placeholder, e.getAttribute("aria-label")].join(" "));
        return [document.body.innerText, document.title].concat(options, attributes).join("\\n");
    }""")
    return sorted({w for w in re.findall(r"[A-Za-z]{2,}", text) if w not in PROPER_NAMES})


@pytest.fixture
def app_config(app_config):
    app_config.update(SIM_PHONE_NUMBERS=[NUMBER, BILINGUAL_NUMBER])
    return app_config


def test_a_chinese_agent_and_supervisor_see_chinese_and_an_english_agent_sees_english(
        app, session, factory, carrier, open_page, dispositions, request):
    factory.demo_line()
    ensure_bilingual_flow(session)
    li = factory.user(skills={"support": 5}, username="li", team="Tier 1")
    li.full_name, li.language, li.time_zone = "Li Wei", "zh_Hans", "Asia/Shanghai"
    zhang = factory.user(role="supervisor", username="zhang", team="Tier 1")
    zhang.full_name, zhang.language = "Zhang Ming", "zh_Hans"
    ann = factory.user(skills={"support": 5}, username="ann", team="Tier 1")
    ann.full_name, ann.time_zone = "Ann Smith", "America/New_York"
    session.commit()
    factory.contact(phones=(DANA,), first_name="Dana", last_name="Lee")

    board = open_page("zh-supervisor")
    login(board, "zhang")
    expect(board).to_have_url("/wallboard")
    expect(board.locator("#connection")).to_have_text("已连接")
    expect(board.locator("#softphone-state")).to_have_text("软电话就绪")
    expect(board.locator('tr[data-queue="Support"] td[data-field="waiting"]')).to_have_text("0")
    expect(board.locator('[data-agent] .st').first).to_be_visible()
    shot(board, request, "wallboard-zh")
    assert _english_leftovers(board) == []

    console = open_page("zh-agent")
    login(console, "li")
    expect(console).to_have_url("/console")
    expect(console.locator("html")).to_have_attribute("lang", "zh-Hans")
    expect(console.locator("#softphone-state")).to_have_text("软电话就绪")
    console.select_option("#state-select", "away:lunch")
    expect(console.locator("#state-badge")).to_have_text("置忙 · 午餐")
    assert _english_leftovers(console) == []
    # Dates and durations in the person's locale and time zone (the timeline, the pop, callbacks use these).
    assert console.evaluate("CC.when('2026-03-05T14:07:00Z')") == "2026年3月5日 22:07"
    assert console.evaluate("CC.durationWords(65)") == "1分钟 5秒"
    assert console.evaluate("CC.number(1234567)") == "1,234,567"

    english = open_page("en-agent")
    login(english, "ann")
    expect(english.locator("#softphone-state")).to_have_text("Softphone ready")
    expect(english.locator("h1")).to_have_text("Console")
    # The same check sees English when it is there.
    assert {"Console", "Softphone", "Customer", "Contacts"} <= set(_english_leftovers(english))
    # (ICU versions differ on the space before AM: narrow no-break or plain)
    assert english.evaluate("CC.when('2026-03-05T14:07:00Z')").replace("\u202f", " ") == "Mar 5, 2026, 9:07 AM"
    assert english.evaluate("CC.durationWords(65)") == "1 min 5 sec"

    # A caller chooses Chinese on the bilingual line and waits in Support (nobody on this floor has a language
    # skill, so anyone may take it); the English agent is offered it first, then the Chinese agent after a reject.
    caller = carrier.dial(DANA, BILINGUAL_NUMBER)
    caller.wait_for_say("中文服务请按2")
    caller.press("2")
    caller.wait_for_say("技术支持请按2")
    caller.press("2")
    english.select_option("#state-select", "available")
    expect(english.locator("#offer-card")).to_be_visible()
    expect(english.locator("#offer-language")).to_have_text("Simplified Chinese")
    expect(english.locator("#call-status")).to_have_text("Incoming call")
    shot(english, request, "offer-en")
    english.click("#reject")

    console.select_option("#state-select", "available")
    expect(console.locator("#offer-card")).to_be_visible()
    expect(console.locator("#offer-name")).to_have_text("Dana Lee")
    expect(console.locator("#offer-language")).to_have_text("简体中文")
    expect(console.locator("#call-status")).to_have_text("来电")
    shot(console, request, "offer-zh")
    assert _english_leftovers(console) == []
    caller.hangup()
