"""Flows in the caller's language: validation of language tags, the language choice, and the TwiML it renders."""

from __future__ import annotations

import copy
import xml.etree.ElementTree as ET
from typing import Any

import pytest

from callcenter.i18n_caller import caller_locale, caller_text, untranslated
from callcenter.services import ivr_flows
from callcenter.services.ivr_flows import validate_flow
from ivr import flow_twiml

MENU_URL = "https://cc.example.com/ivr/menu"


@pytest.fixture
def bilingual_flow() -> dict[str, Any]:
    """A fresh copy of the shipped bilingual demo flow (English / 中文 first)."""
    text = ivr_flows.BILINGUAL_FLOW_FILE.read_text(encoding="utf-8")
    return copy.deepcopy(ivr_flows.parse_definition(text, "flow.yaml"))


def problems_of(session, definition) -> dict[str, str]:
    return {p.path: p.message for p in validate_flow(session, definition)}


def says(element: ET.Element) -> list[tuple[str, str, str | None]]:
    return [(s.text, s.attrib.get("language"), s.attrib.get("voice")) for s in element.iter("Say")]


def test_the_bilingual_flow_is_valid(session, queues, bilingual_flow):
    assert validate_flow(session, bilingual_flow) == []


def test_unknown_languages_are_refused_wherever_they_appear(session, queues, bilingual_flow):
    bilingual_flow["language"] = "klingon"
    bilingual_flow["nodes"]["main_zh"]["language"] = "zh-XX"
    bilingual_flow["nodes"]["language"]["prompt"][1]["language"] = "cn"
    bilingual_flow["nodes"]["language"]["choices"][1]["set_language"] = "chinese"

    found = problems_of(session, bilingual_flow)

    assert set(found) == {"language", "nodes.main_zh.language", "nodes.language.prompt[1].language",
                          "nodes.language.choices[1].set_language"}
    assert found["language"].startswith("unknown language 'klingon': use a language tag Twilio speaks")
    assert "zh-CN" in found["nodes.main_zh.language"]


def test_known_tags_of_every_spelling_pass(session, queues, bilingual_flow):
    for tag in ("zh-CN", "cmn-CN", "cmn-Hans-CN", "zh-TW", "en-GB", "es-MX"):
        bilingual_flow["nodes"]["main_zh"]["language"] = tag
        assert problems_of(session, bilingual_flow) == {}, tag


def test_a_segment_needs_text_and_known_fields(session, queues, bilingual_flow):
    bilingual_flow["nodes"]["language"]["prompt"] = [{"language": "zh-CN"}, {"text": "x", "speed": 2}, 3]

    found = problems_of(session, bilingual_flow)

    assert found["nodes.language.prompt[0].text"] == "text is required"
    assert found["nodes.language.prompt[1].speed"].startswith("unknown field 'speed'")
    assert found["nodes.language.prompt[2]"] == "a segment is text or a mapping {text, language, voice}"


def test_choosing_chinese_keeps_the_choice_in_the_step_and_goes_to_the_chinese_menu(bilingual_flow):
    decision = ivr_flows.decide(bilingual_flow, "language", 0, "2", None)

    assert decision == ivr_flows.Prompt("main_zh", 0, False, decision.step)
    assert decision.step == {"node": "language", "input": "2", "via": "dtmf", "language": "zh-CN"}
    assert ivr_flows.chosen_language(decision) == "zh-CN"
    assert ivr_flows.chosen_language(ivr_flows.decide(bilingual_flow, "main_zh", 0, "1", None)) is None
    # Said rather than pressed, and the silent caller's default, both choose too.
    assert ivr_flows.chosen_language(ivr_flows.decide(bilingual_flow, "language", 0, None, "中文")) == "zh-CN"
    assert ivr_flows.chosen_language(ivr_flows.decide(bilingual_flow, "language", 2, None, None)) == "en-US"


def test_the_language_menu_says_each_part_in_its_own_language(bilingual_flow):
    root = ET.fromstring(str(flow_twiml.menu(bilingual_flow, "language", MENU_URL, greeting=True)))

    assert says(root) == [
        ("Thank you for calling Acme.", "en-US", "Polly.Joanna"),
        ("感谢您致电Acme。", "zh-CN", None),  # the English voice never reads Chinese
        ("For English, press 1 or say English.", "en-US", "Polly.Joanna"),
        ("中文服务请按2。", "zh-CN", None),
    ]
    assert root.find("Gather").attrib["language"] == "en-US"


def test_a_chinese_node_speaks_and_listens_in_chinese(bilingual_flow):
    root = ET.fromstring(str(flow_twiml.menu(bilingual_flow, "main_zh", MENU_URL, attempt=1, reprompt=True)))

    gather = root.find("Gather")
    assert gather.attrib["language"] == "zh-CN"
    assert gather.attrib["hints"].startswith("销售, 技术支持")
    assert [(lang, voice) for _, lang, voice in says(root)] == [("zh-CN", None), ("zh-CN", None)]
    assert says(root)[0][0] == "抱歉，我没有听清。"


def test_a_node_voice_overrides_and_the_built_in_reprompt_follows_the_node_language(bilingual_flow):
    del bilingual_flow["nodes"]["main_zh"]["reprompt"]
    bilingual_flow["nodes"]["main_zh"].update(language="cmn-CN", voice="Polly.Zhiyu")

    root = ET.fromstring(str(flow_twiml.menu(bilingual_flow, "main_zh", MENU_URL, attempt=1, reprompt=True)))

    assert says(root)[0] == ("抱歉，我没有听清。", "cmn-CN", "Polly.Zhiyu")
    assert root.find("Gather").attrib["language"] == "cmn-CN"


def test_built_in_screens_follow_the_callers_language(bilingual_flow):
    language, voice = ivr_flows.speech_for(bilingual_flow, "zh_Hans")
    assert (language, voice) == ("zh-CN", None)
    assert ivr_flows.speech_for(bilingual_flow, "en") == ("en-US", "Polly.Joanna")
    assert ivr_flows.speech_for(bilingual_flow, None) == ("en-US", "Polly.Joanna")

    confirmed = ET.fromstring(str(flow_twiml.callback_confirmed(in_queue=True, language=language, voice=voice)))
    assert says(confirmed) == [("谢谢。您的排队位置将为您保留，我们会给您回电。再见。", "zh-CN", None)]
    waiting = ET.fromstring(str(flow_twiml.waiting("https://x/wait", "https://x/choice", position=3,
                                                   estimated_wait_seconds=240, language=language)))
    assert [text for text, _, _ in says(waiting)] == ["您排在第3位。预计等待时间约4分钟。",
                                                       "如需挂机并保留排队位置等待回电，请随时按星号键。"]
    english = ET.fromstring(str(flow_twiml.callback_confirmed(language="en-US")))
    assert says(english)[0][0] == "Thank you. We will call you back at this number. Goodbye."


def test_every_built_in_caller_text_has_a_chinese_translation():
    assert untranslated(list(flow_twiml.CALLER_TEXTS), "zh_Hans") == []
    assert caller_text(flow_twiml.NUMBER_IN_LINE, "fr-FR", position=2) == "You are number 2 in line."


@pytest.mark.parametrize("tag,locale", [
    ("zh-CN", "zh_Hans"), ("cmn-CN", "zh_Hans"), ("cmn-Hans-CN", "zh_Hans"), ("zh-TW", "zh_Hant"),
    ("yue-Hant-HK", "zh_Hant"), ("en-US", "en"), ("en", "en"), ("zh_Hans", "zh_Hans"), ("es-MX", "es"),
    (None, None), ("", None),
])
def test_language_tags_map_to_the_products_locale_codes(tag, locale):
    assert caller_locale(tag) == locale
