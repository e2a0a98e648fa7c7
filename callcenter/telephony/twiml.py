"""Pure TwiML builders: state in, `VoiceResponse` out. No database, no request: easy to test and to extend."""

from __future__ import annotations

from twilio.twiml.voice_response import Dial, VoiceResponse

CALL_UNAVAILABLE = "This call is no longer available."
TECHNICAL_DIFFICULTIES = "Sorry, we are having technical difficulties. Please call again later."


def technical_difficulties() -> VoiceResponse:
    """The answer when we cannot serve the call: say so plainly and hang up (never a silent failure)."""
    response = VoiceResponse()
    response.say(TECHNICAL_DIFFICULTIES)
    response.hangup()
    return response


def call_unavailable() -> VoiceResponse:
    """An agent picked up an offer that ended meanwhile (timed out, caller gone): tell them and hang up."""
    response = VoiceResponse()
    response.say(CALL_UNAVAILABLE)
    response.hangup()
    return response


def join_conference(name: str, *, end_on_exit: bool, status_callback: str | None = None, muted: bool = False,
                    start_on_enter: bool = True) -> VoiceResponse:
    """Put this leg into the interaction's conference (hold, transfer and coaching are participant changes)."""
    response = VoiceResponse()
    dial = Dial()
    options = {
        "start_conference_on_enter": start_on_enter,
        "end_conference_on_exit": end_on_exit,
        "beep": False,
        "muted": muted,
    }
    if status_callback:
        options["status_callback"] = status_callback
        # Only the conference's end is acted on (`ivr.agent_legs.conference_status`); the legs report their own
        # progress, so join/leave/start would be a webhook each for nothing.
        options["status_callback_event"] = "end"
    dial.conference(name, **options)
    response.append(dial)
    return response


def refuse(message: str) -> VoiceResponse:
    """Tell the agent why their call cannot be placed, then hang up."""
    response = VoiceResponse()
    response.say(message)
    response.hangup()
    return response


def dial_number(number: str, *, caller_id: str, status_callback: str | None = None,
                timeout_seconds: int = 30) -> VoiceResponse:
    """Connect the agent's leg to an outside number, showing our caller ID."""
    response = VoiceResponse()
    dial = Dial(caller_id=caller_id, timeout=timeout_seconds)
    options = {}
    if status_callback:
        options = {"status_callback": status_callback,
                   "status_callback_event": "initiated ringing answered completed"}
    dial.number(number, **options)
    response.append(dial)
    return response


def wait_for_agent(seconds: int, then_url: str) -> VoiceResponse:
    """A person the dialer called waits (silence) while an agent is found; then we are asked again."""
    response = VoiceResponse()
    response.pause(length=max(int(seconds), 1))
    response.redirect(then_url, method="POST")
    return response


def say_and_hang_up(text: str) -> VoiceResponse:
    """A campaign's recorded-style message (voicemail drop, identification after an abandoned call), then hang up;
    nothing to say: just hang up."""
    response = VoiceResponse()
    if text:
        response.say(text)
    response.hangup()
    return response
