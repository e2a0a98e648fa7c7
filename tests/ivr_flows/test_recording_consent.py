"""TwiML for recorded calls: the consent prompt (in the caller's language) before the wait loop or the campaign's
bridge, and a voicemail's transcription posted to its own callback."""

from __future__ import annotations

from ivr import flow_twiml
from tests.ivr_flows.test_flow_twiml import parse, verbs


def test_a_recording_queue_says_so_before_the_wait_announcement():
    root = parse(flow_twiml.waiting("https://x/ivr/wait", "https://x/ivr/wait/choice", position=1,
                                    estimated_wait_seconds=30, consent=True))
    says = [say.text for say in root.iter("Say")]
    assert says[0] == flow_twiml.RECORDING_CONSENT and "next in line" in says[1]
    plain = parse(flow_twiml.waiting("https://x/ivr/wait", "https://x/ivr/wait/choice", position=1,
                                     estimated_wait_seconds=30))
    assert flow_twiml.RECORDING_CONSENT not in [say.text for say in plain.iter("Say")]


def test_the_consent_prompt_is_said_in_the_callers_language():
    root = parse(flow_twiml.waiting("https://x/ivr/wait", "https://x/ivr/wait/choice", position=None,
                                    estimated_wait_seconds=None, language="zh-CN", consent=True))
    first = next(root.iter("Say"))
    assert first.get("language") == "zh-CN" and "录音" in first.text


def test_with_consent_comes_before_the_campaigns_twiml():
    from callcenter.telephony import twiml

    root = parse(flow_twiml.with_consent(twiml.wait_for_agent(2, "https://x/ivr/campaign/connect")))
    assert verbs(root) == ["Say", "Pause", "Redirect"]


def test_voicemail_transcription_goes_to_its_own_callback_beside_the_action():
    root = parse(flow_twiml.voicemail("https://x/ivr/voicemail?busy_retry=1"))
    record = next(root.iter("Record"))
    assert record.get("transcribe") == "true"
    assert record.get("transcribeCallback") == "https://x/ivr/voicemail/transcription?busy_retry=1"
