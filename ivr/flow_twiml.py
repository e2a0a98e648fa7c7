"""Pure TwiML builders for flows as data: the menu, after hours, the waiting caller, voicemail, callbacks.

State in (a flow definition or plain values, and the URLs to post to), `VoiceResponse` out: no database, no
request, so every screen is tested by parsing its XML. The webhooks (ivr/) decide, these only render.

Built-in texts are English message ids (`N_`) said in the language the screen is given (`caller_text`): a caller
who chose Chinese hears them in Chinese, with `language` on every Say and on the speech Gather.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit, urlunsplit

from twilio.twiml.voice_response import Gather, VoiceResponse

from callcenter.i18n_caller import N_, caller_text
from callcenter.services import ivr_flows
from callcenter.telephony.links import with_query

SORRY = N_("Sorry, I didn't get that.")
FALLBACK = N_("We're sorry, we can't take your call right now. Please try again later. Goodbye.")
CLOSED = N_("Our office is closed right now.")
CLOSED_NOW = N_("We are closed at the moment.")
VOICEMAIL_PROMPT = N_("Please leave a message after the tone, then press the pound key or hang up.")
NO_RECORDING = N_("We did not receive a message. Goodbye.")
RECORDING_SAVED = N_("Thank you. Your message has been recorded and we will get back to you. Goodbye.")
CALLBACK_OFFER = N_("To have us call you back, press 1. To leave a message instead, press 2.")
CALLBACK_OFFER_CLOSED = N_("To have us call you back when we open, press 1. To leave a message instead, press 2.")
CALLBACK_CONFIRMED = N_("Thank you. We will call you back at this number. Goodbye.")
CALLBACK_CONFIRMED_IN_QUEUE = N_("Thank you. You keep your place in line and we will call you back. Goodbye.")
WAIT_CALLBACK_HINT = N_("To hang up and keep your place in line with a call back, press star at any time.")
ALL_BUSY = N_("All of our agents are still busy.")
GOODBYE = N_("Goodbye.")
TROUBLE_CONNECTING = N_("We are sorry, we cannot connect you to an agent right now.")
NEXT_IN_LINE = N_("You are next in line.")
NUMBER_IN_LINE = N_("You are number %(position)d in line.")
WAIT_UNDER_A_MINUTE = N_("Your estimated wait is less than a minute.")
WAIT_ONE_MINUTE = N_("Your estimated wait is about 1 minute.")
WAIT_MINUTES = N_("Your estimated wait is about %(minutes)d minutes.")
RECORDING_CONSENT = N_("This call may be recorded for quality and training purposes. If you do not agree, "
                       "please hang up.")
CALLER_TEXTS = (SORRY, FALLBACK, CLOSED, CLOSED_NOW, VOICEMAIL_PROMPT, NO_RECORDING, RECORDING_SAVED, CALLBACK_OFFER,
                CALLBACK_OFFER_CLOSED, CALLBACK_CONFIRMED, CALLBACK_CONFIRMED_IN_QUEUE, WAIT_CALLBACK_HINT, ALL_BUSY,
                GOODBYE, TROUBLE_CONNECTING, NEXT_IN_LINE, NUMBER_IN_LINE, WAIT_UNDER_A_MINUTE, WAIT_ONE_MINUTE,
                WAIT_MINUTES, RECORDING_CONSENT)
DEFAULT_LANGUAGE = ivr_flows.DEFAULT_LANGUAGE


Spoken = str | list[tuple[str, str, str | None]] | None  # one text, or (text, language, voice) parts


def _say(target: VoiceResponse | Gather, text: Spoken, language: str, voice: str | None) -> None:
    if isinstance(text, list):
        for part, own_language, own_voice in text:
            _say(target, part, own_language, own_voice)
    elif text:
        target.say(text, language=language, **({"voice": voice} if voice else {}))


def _said(msgid: str, language: str, **params: int) -> str:
    """A built-in text in the screen's language."""
    return caller_text(msgid, language, **params)


def _sentences(language: str, *parts: str | None) -> str:
    """Sentences said one after the other; Chinese sentences are not separated by spaces."""
    return ("" if language.lower().startswith(("zh", "cmn", "yue")) else " ").join(p for p in parts if p)


def speech_of(definition: dict[str, Any]) -> tuple[str, str | None]:
    """(language, voice) of a flow, for the builders that take them separately."""
    return ivr_flows.language_of(definition), ivr_flows.voice_of(definition)


def menu(definition: dict[str, Any], node_id: str, action_url: str, *, attempt: int = 0, reprompt: bool = False,
         greeting: bool = False) -> VoiceResponse:
    """A node's menu: one Gather listening for a key or speech, posting to `action_url?node=..&attempt=..`.

    actionOnEmptyResult makes silence post too, so the navigator counts it as a failed try; the trailing
    Redirect does the same for carriers that ignore that attribute. `greeting` plays the flow's greeting first
    (the call's first menu); `reprompt` says "Sorry, I didn't get that." before the prompt.
    """
    node = ivr_flows.node_of(definition, node_id)
    if node is None:
        return fallback(language=ivr_flows.language_of(definition), voice=ivr_flows.voice_of(definition))
    language, voice = ivr_flows.node_speech(definition, node)
    target = with_query(action_url, node=node_id, attempt=attempt)
    options: dict[str, Any] = {
        "input": "dtmf speech",
        "action": target,
        "method": "POST",
        "num_digits": 1,
        "timeout": int(node.get("timeout") or ivr_flows.DEFAULT_TIMEOUT),
        "speech_timeout": "auto",
        "language": language,
        "action_on_empty_result": True,
    }
    hints = ivr_flows.hints_of(node)
    if hints:
        options["hints"] = ", ".join(hints)
    response = VoiceResponse()
    gather = Gather(**options)
    if greeting:
        flow_language, flow_voice = speech_of(definition)
        for text, said_in, said_by in ivr_flows.segments(definition.get("greeting"), flow_language, flow_voice,
                                                         definition):
            _say(gather, text, said_in, said_by)
    if reprompt:
        _say(gather, node.get("reprompt") or _said(SORRY, language), language, voice)
    for text, said_in, said_by in ivr_flows.segments(node["prompt"], language, voice, definition):
        _say(gather, text, said_in, said_by)
    response.append(gather)
    response.redirect(target, method="POST")
    return response


def record_message(response: VoiceResponse, record_action_url: str, *, language: str = DEFAULT_LANGUAGE,
                   voice: str | None = None, prompt: str | None = VOICEMAIL_PROMPT, max_length: int = 120,
                   transcribe: bool = True, transcribe_callback_url: str | None = None) -> VoiceResponse:
    """Append the voicemail prompt and a Record; without a recording the call says goodbye and ends."""
    _say(response, _said(prompt, language) if prompt else None, language, voice)
    options: dict[str, Any] = {
        "action": record_action_url,
        "method": "POST",
        "max_length": max_length,
        "finish_on_key": "#",
        "play_beep": True,
        "timeout": 5,
        "transcribe": transcribe,
    }
    if transcribe:
        # The transcription arrives later, at its own callback: by default /transcription beside the action.
        options["transcribe_callback"] = transcribe_callback_url or _beside(record_action_url, "transcription")
    response.record(**options)
    # Reached only when Record ends without calling its action (nothing recorded).
    _say(response, _said(NO_RECORDING, language), language, voice)
    response.hangup()
    return response


def with_consent(response: VoiceResponse, *, language: str = DEFAULT_LANGUAGE,
                 voice: str | None = None) -> VoiceResponse:
    """`response` preceded by the recording consent prompt (a call that may be recorded says so first)."""
    consent = VoiceResponse()
    _say(consent, _said(RECORDING_CONSENT, language), language, voice)
    consent.verbs.extend(response.verbs)
    return consent


def _beside(url: str, name: str) -> str:
    """`url` with `/name` appended to its path, its query kept."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=parts.path.rstrip("/") + "/" + name))


def voicemail(record_action_url: str, *, message: Spoken = None, language: str = DEFAULT_LANGUAGE,
              voice: str | None = None, max_length: int = 120, transcribe: bool = True,
              transcribe_callback_url: str | None = None) -> VoiceResponse:
    """The voicemail screen: an optional message, then the prompt and the recording."""
    response = VoiceResponse()
    _say(response, message, language, voice)
    return record_message(response, record_action_url, language=language, voice=voice, max_length=max_length,
                          transcribe=transcribe, transcribe_callback_url=transcribe_callback_url)


def callback_offer(choice_url: str, *, message: Spoken = None, language: str = DEFAULT_LANGUAGE,
                   voice: str | None = None, closed: bool = False) -> VoiceResponse:
    """Offer a call back (1) or a message (2); the choice posts to `choice_url` (no input posts nothing: goodbye)."""
    response = VoiceResponse()
    gather = Gather(input="dtmf", num_digits=1, timeout=6, action=choice_url, method="POST")
    _say(gather, message, language, voice)
    _say(gather, _said(CALLBACK_OFFER_CLOSED if closed else CALLBACK_OFFER, language), language, voice)
    response.append(gather)
    _say(response, _said(GOODBYE, language), language, voice)
    response.hangup()
    return response


def after_hours(definition: dict[str, Any], *, opening_message: str | None, record_action_url: str,
                callback_choice_url: str, transcribe_callback_url: str | None = None, max_length: int = 120,
                other_openings: tuple[tuple[str, str | None, str | None], ...] = ()) -> VoiceResponse:
    """The closed line: the flow's after-hours message and when we open, then voicemail, a callback offer, or
    goodbye, as `after_hours.action` says. On a bilingual line (`other_openings`: language, voice, opening
    sentence) the closed notice is said again in each other language the greeting speaks."""
    language, voice = speech_of(definition)
    settings = definition.get("after_hours") or {}
    message: Spoken = _sentences(language, settings.get("message") or _said(CLOSED, language), opening_message)
    if other_openings:
        message = [(str(message), language, voice)] + [
            (_sentences(other, _said(CLOSED, other), opening), other, other_voice)
            for other, other_voice, opening in other_openings]
    action = settings.get("action") or "voicemail"
    if action == "callback":
        return callback_offer(callback_choice_url, message=message, language=language, voice=voice, closed=True)
    if action == "hangup":
        return hangup(message, language=language, voice=voice)
    return voicemail(record_action_url, message=message, language=language, voice=voice, max_length=max_length,
                     transcribe_callback_url=transcribe_callback_url)


def wait_announcement(position: int | None, estimated_wait_seconds: int | None,
                      language: str = DEFAULT_LANGUAGE) -> str:
    """"You are number 3 in line. Your estimated wait is about 4 minutes." (parts left out when unknown)."""
    parts = []
    if position is not None and position >= 1:
        parts.append(_said(NEXT_IN_LINE, language) if position == 1
                     else _said(NUMBER_IN_LINE, language, position=position))
    if estimated_wait_seconds is not None:
        minutes = _announced_minutes(estimated_wait_seconds)
        if estimated_wait_seconds < 60:
            parts.append(_said(WAIT_UNDER_A_MINUTE, language))
        elif minutes == 1:
            parts.append(_said(WAIT_ONE_MINUTE, language))
        else:
            parts.append(_said(WAIT_MINUTES, language, minutes=minutes))
    return _sentences(language, *parts)


def _announced_minutes(estimated_wait_seconds: int) -> int:
    return max(1, round(estimated_wait_seconds / 60))


def announced_wait(estimated_wait_seconds: int | None) -> int | None:
    """The estimate as the announcement says it (under a minute, or whole minutes), in seconds: turns that sound
    the same get the same document."""
    if estimated_wait_seconds is None:
        return None
    return 0 if estimated_wait_seconds < 60 else _announced_minutes(estimated_wait_seconds) * 60


def waiting(wait_url: str, callback_choice_url: str, *, position: int | None, estimated_wait_seconds: int | None,
            language: str = DEFAULT_LANGUAGE, voice: str | None = None, hold_seconds: int = 20,
            hold_music_url: str | None = None, announce: bool = True, offer_callback: bool = True,
            consent: bool = False) -> VoiceResponse:
    """One turn of the waiting caller's loop: position and estimated wait, hold music (or a pause), a chance to
    press * for a callback that keeps the place, then back to `wait_url` for the next turn.

    The Gather has no finish key so * arrives as a digit at `callback_choice_url`; silence falls through to the
    Redirect (no actionOnEmptyResult), which keeps the loop going. `consent`: the queue records its calls, so the
    caller first hears that the call may be recorded (once, as they join the line).
    """
    response = VoiceResponse()
    if consent:
        _say(response, _said(RECORDING_CONSENT, language), language, voice)
    if announce:
        _say(response, wait_announcement(position, estimated_wait_seconds, language), language, voice)
    if offer_callback:
        gather = Gather(input="dtmf", num_digits=1, finish_on_key="", timeout=1, action=callback_choice_url,
                        method="POST")
        _say(gather, _said(WAIT_CALLBACK_HINT, language), language, voice)
        if hold_music_url:
            gather.play(hold_music_url)
        else:
            gather.pause(length=hold_seconds)
        response.append(gather)
    elif hold_music_url:
        response.play(hold_music_url)
    else:
        response.pause(length=hold_seconds)
    response.redirect(wait_url, method="POST")
    return response


def is_callback_request(digits: str | None) -> bool:
    """The waiting caller pressed * (any other key just resumes the wait)."""
    return (digits or "").strip() == "*"


def resume_wait(wait_url: str) -> VoiceResponse:
    """A key other than * while waiting: back to the wait loop, place unchanged."""
    response = VoiceResponse()
    response.redirect(wait_url, method="POST")
    return response


def callback_confirmed(*, in_queue: bool = False, message: str | None = None, language: str = DEFAULT_LANGUAGE,
                       voice: str | None = None) -> VoiceResponse:
    """The callback is booked: say so (and that the place in line is kept) and hang up."""
    response = VoiceResponse()
    _say(response, message or _said(CALLBACK_CONFIRMED_IN_QUEUE if in_queue else CALLBACK_CONFIRMED, language),
         language, voice)
    response.hangup()
    return response


def max_wait_reached(record_action_url: str, *, language: str = DEFAULT_LANGUAGE, voice: str | None = None,
                     max_length: int = 120, transcribe_callback_url: str | None = None) -> VoiceResponse:
    """The caller waited the queue's maximum: all agents busy, leave a message (it becomes a ticket)."""
    return voicemail(record_action_url, message=_said(ALL_BUSY, language), language=language, voice=voice,
                     max_length=max_length, transcribe_callback_url=transcribe_callback_url)


def recording_saved(*, language: str = DEFAULT_LANGUAGE, voice: str | None = None) -> VoiceResponse:
    """After the Record action: thank the caller and hang up."""
    return hangup(_said(RECORDING_SAVED, language), language=language, voice=voice)


def hangup(message: Spoken = None, *, language: str = DEFAULT_LANGUAGE, voice: str | None = None) -> VoiceResponse:
    """Say `message` (or goodbye) and end the call."""
    response = VoiceResponse()
    _say(response, message or _said(GOODBYE, language), language, voice)
    response.hangup()
    return response


def fallback(message: str = FALLBACK, *, language: str = DEFAULT_LANGUAGE, voice: str | None = None) -> VoiceResponse:
    """The safe answer when nothing else can be built (no flow, broken state): apologise and hang up."""
    return hangup(_said(message, language), language=language, voice=voice)


def hold_and_retry(url: str, pause_seconds: int) -> VoiceResponse:
    """Keep the caller on the line a moment and ask again: the answer could not be built in time (the database
    was locked or slow), and a moment later it may be."""
    response = VoiceResponse()
    response.pause(length=pause_seconds)
    response.redirect(url, method="POST")
    return response


def closed_now(opening_message: str | None, language: str = DEFAULT_LANGUAGE) -> str:
    """The chosen queue is closed: say so (and when it opens, when known)."""
    return _sentences(language, _said(CLOSED_NOW, language), opening_message)
