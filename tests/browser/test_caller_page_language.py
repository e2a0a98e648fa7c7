"""The emulator's caller page reads each prompt aloud in the language of its Say, with a browser voice of that
language (for Chinese, any voice whose language starts with zh) when the browser has one."""

from __future__ import annotations

import pytest

from callcenter.services.ivr_flows import BILINGUAL_NUMBER, ensure_bilingual_flow
from tests.browser.conftest import NUMBER

# Chromium headless has no voices of its own: the page gets a speech engine with an English and a Chinese voice
# (a Taiwanese one listed first, so "a zh voice" and "the zh-CN voice" differ) that records what it is asked.
FAKE_SPEECH = """
window.__spoken = [];
const voices = [{name: "English", lang: "en-US"}, {name: "Taiwan", lang: "zh_TW"}, {name: "Mainland", lang: "zh-CN"}];
Object.defineProperty(window, "speechSynthesis", {configurable: true, value: {
  getVoices: () => voices,
  speak: (u) => window.__spoken.push({text: u.text, lang: u.lang, voice: u.voice ? u.voice.name : null}),
  cancel: () => {},
  addEventListener: () => {},
}});
window.SpeechSynthesisUtterance = function (text) { this.text = text; this.lang = ""; this.voice = null; };
"""


@pytest.fixture
def app_config(app_config):
    app_config.update(SIM_PHONE_NUMBERS=[NUMBER, BILINGUAL_NUMBER])
    return app_config


def test_chinese_prompts_are_read_with_a_chinese_voice(session, factory, carrier, open_page):
    factory.demo_line()
    ensure_bilingual_flow(session)
    session.commit()
    page = open_page("caller")
    page.add_init_script(FAKE_SPEECH)
    page.goto("/sim/caller")

    page.fill("#from", "+8613800138000")
    page.select_option("#to", BILINGUAL_NUMBER)
    page.click("#dial")
    page.wait_for_selector("#transcript li.say:has-text('中文服务请按2')")
    page.click("#keypad button[data-digit='2']")
    page.wait_for_selector("#transcript li.say:has-text('销售请按1')")
    page.click("#hangup")

    spoken = page.evaluate("window.__spoken")
    by_text = {entry["text"]: entry for entry in spoken}
    assert by_text["For English, press 1 or say English."] == {
        "text": "For English, press 1 or say English.", "lang": "en-US", "voice": "English"}
    assert by_text["中文服务请按2。"]["lang"] == "zh-CN" and by_text["中文服务请按2。"]["voice"] == "Mainland"
    chinese_menu = next(e for e in spoken if e["text"].startswith("销售请按1"))
    assert (chinese_menu["lang"], chinese_menu["voice"]) == ("zh-CN", "Mainland")
