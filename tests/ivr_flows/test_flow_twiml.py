"""TwiML screens for flows as data, checked by parsing the XML: verbs, attributes, and the words said."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from urllib.parse import parse_qs, urlsplit

from ivr import flow_twiml

MENU_URL = "https://cc.example.com/ivr/menu?call=CA1"


def parse(response) -> ET.Element:
    root = ET.fromstring(str(response))
    assert root.tag == "Response"
    return root


def verbs(root: ET.Element) -> list[str]:
    return [child.tag for child in root]


def test_first_menu_greets_and_gathers_keys_and_speech(default_flow):
    root = parse(flow_twiml.menu(default_flow, "main", MENU_URL, greeting=True))

    assert verbs(root) == ["Gather", "Redirect"]
    gather = root.find("Gather")
    assert gather.attrib["input"] == "dtmf speech"
    assert gather.attrib["actionOnEmptyResult"] == "true"
    assert gather.attrib["numDigits"] == "1"
    assert gather.attrib["timeout"] == "5"
    assert gather.attrib["language"] == "en-US"
    assert gather.attrib["method"] == "POST"
    assert gather.attrib["hints"].split(", ")[:4] == ["sales", "buy", "order", "support"]
    query = parse_qs(urlsplit(gather.attrib["action"]).query)
    assert query == {"call": ["CA1"], "node": ["main"], "attempt": ["0"]}
    says = gather.findall("Say")
    assert says[0].text == "Thank you for calling Acme."
    assert says[1].text.startswith("For sales, press 1")
    assert {s.attrib["voice"] for s in says} == {"Polly.Joanna"}
    assert {s.attrib["language"] for s in says} == {"en-US"}
    # Silence is posted by actionOnEmptyResult; the Redirect is the same post for carriers that ignore it.
    assert root.find("Redirect").text == gather.attrib["action"]


def test_reprompt_apologises_and_carries_the_attempt(default_flow):
    root = parse(flow_twiml.menu(default_flow, "support_menu", MENU_URL, attempt=2, reprompt=True))

    gather = root.find("Gather")
    assert gather.find("Say").text == "Sorry, I didn't get that."
    assert "Thank you for calling" not in "".join(s.text for s in gather.findall("Say"))
    assert parse_qs(urlsplit(gather.attrib["action"]).query)["attempt"] == ["2"]
    assert parse_qs(urlsplit(gather.attrib["action"]).query)["node"] == ["support_menu"]


def test_a_missing_node_gets_the_safe_fallback(default_flow):
    root = parse(flow_twiml.menu(default_flow, "gone", MENU_URL))
    assert verbs(root) == ["Say", "Hangup"]


def test_after_hours_voicemail_says_when_we_open_and_records(default_flow):
    root = parse(flow_twiml.after_hours(default_flow, opening_message="We open Monday at 8 AM.",
                                        record_action_url="https://cc/ivr/voicemail",
                                        callback_choice_url="https://cc/ivr/callback",
                                        transcribe_callback_url="https://cc/ivr/transcription"))

    assert verbs(root) == ["Say", "Say", "Record", "Say", "Hangup"]
    assert root[0].text == "Our office is closed right now. We open Monday at 8 AM."
    record = root.find("Record")
    assert record.attrib["action"] == "https://cc/ivr/voicemail"
    assert record.attrib["maxLength"] == "120"
    assert record.attrib["transcribe"] == "true"
    assert record.attrib["transcribeCallback"] == "https://cc/ivr/transcription"
    assert record.attrib["finishOnKey"] == "#"


def test_after_hours_callback_offer(default_flow):
    default_flow["after_hours"] = {"action": "callback", "message": "We're closed."}
    root = parse(flow_twiml.after_hours(default_flow, opening_message=None, record_action_url="https://cc/vm",
                                        callback_choice_url="https://cc/cb"))

    assert verbs(root) == ["Gather", "Say", "Hangup"]
    gather = root.find("Gather")
    assert (gather.attrib["action"], gather.attrib["numDigits"], gather.attrib["input"]) == ("https://cc/cb", "1",
                                                                                             "dtmf")
    assert [s.text for s in gather.findall("Say")] == ["We're closed.", flow_twiml.CALLBACK_OFFER_CLOSED]


def test_after_hours_hangup(default_flow):
    default_flow["after_hours"] = {"action": "hangup", "message": "We're closed for good."}
    root = parse(flow_twiml.after_hours(default_flow, opening_message=None, record_action_url="x",
                                        callback_choice_url="y"))
    assert verbs(root) == ["Say", "Hangup"]


def test_waiting_loop_announces_plays_hold_music_offers_star_and_loops():
    root = parse(flow_twiml.waiting("https://cc/ivr/wait?call=CA1", "https://cc/ivr/wait/choice?call=CA1",
                                    position=3, estimated_wait_seconds=230,
                                    hold_music_url="https://cc/ivr/static/hold.mp3"))

    assert verbs(root) == ["Say", "Gather", "Redirect"]
    assert root[0].text == "You are number 3 in line. Your estimated wait is about 4 minutes."
    gather = root.find("Gather")
    assert gather.attrib["finishOnKey"] == ""
    assert gather.attrib["numDigits"] == "1"
    assert gather.attrib["action"] == "https://cc/ivr/wait/choice?call=CA1"
    assert "actionOnEmptyResult" not in gather.attrib  # silence falls through to the Redirect: keep waiting
    assert [c.tag for c in gather] == ["Say", "Play"]
    assert gather.find("Play").text == "https://cc/ivr/static/hold.mp3"
    assert root.find("Redirect").text == "https://cc/ivr/wait?call=CA1"


def test_waiting_without_music_pauses_and_next_in_line_wording():
    root = parse(flow_twiml.waiting("https://cc/w", "https://cc/c", position=1, estimated_wait_seconds=20,
                                    hold_seconds=15))
    assert root[0].text == "You are next in line. Your estimated wait is less than a minute."
    assert root.find("Gather/Pause").attrib["length"] == "15"
    quiet = parse(flow_twiml.waiting("https://cc/w", "https://cc/c", position=None, estimated_wait_seconds=None,
                                     announce=False, offer_callback=False))
    assert verbs(quiet) == ["Pause", "Redirect"]


def test_estimates_that_sound_the_same_share_one_announced_wait():
    # The wait turn's document is built once per announced wait (ivr.caller): every estimate must say what its
    # announced wait says, and estimates that are said differently must stay apart.
    said: dict[int | None, str] = {}
    for seconds in [None, *range(-5, 4000)]:
        announced = flow_twiml.announced_wait(seconds)
        for language in ("en-US", "zh-CN"):
            assert flow_twiml.wait_announcement(2, seconds, language) == \
                flow_twiml.wait_announcement(2, announced, language)
        said.setdefault(announced, flow_twiml.wait_announcement(2, seconds))
    assert len(set(said.values())) == len(said)  # one text per announced wait
    assert flow_twiml.announced_wait(None) is None
    assert flow_twiml.announced_wait(59) == 0 and flow_twiml.announced_wait(89) == 60
    assert flow_twiml.announced_wait(90) == 120


def test_star_is_a_callback_request_other_keys_resume():
    assert flow_twiml.is_callback_request("*") and not flow_twiml.is_callback_request("1")
    root = parse(flow_twiml.resume_wait("https://cc/w"))
    assert verbs(root) == ["Redirect"] and root[0].attrib["method"] == "POST"
    confirmed = parse(flow_twiml.callback_confirmed(in_queue=True))
    assert verbs(confirmed) == ["Say", "Hangup"]
    assert "keep your place" in confirmed[0].text


def test_max_wait_leaves_a_message():
    root = parse(flow_twiml.max_wait_reached("https://cc/vm?call=CA1", max_length=60))
    assert verbs(root) == ["Say", "Say", "Record", "Say", "Hangup"]
    assert root[0].text == "All of our agents are still busy."
    assert root.find("Record").attrib["maxLength"] == "60"


def test_voicemail_recording_saved_and_fallback():
    assert verbs(parse(flow_twiml.voicemail("https://cc/vm"))) == ["Say", "Record", "Say", "Hangup"]
    assert verbs(parse(flow_twiml.recording_saved())) == ["Say", "Hangup"]
    fallback = parse(flow_twiml.fallback())
    assert verbs(fallback) == ["Say", "Hangup"] and "try again later" in fallback[0].text
