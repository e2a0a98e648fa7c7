"""The one telephony interface services and edges use, with plain value types (no SDK types leak out)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol, runtime_checkable

# The call progress events Twilio can report to a status callback (StatusCallbackEvent).
ALL_CALL_EVENTS: tuple[str, ...] = ("initiated", "ringing", "answered", "completed")

# Conference participant status callback events (StatusCallbackEvent on the Participants resource).
ALL_PARTICIPANT_EVENTS: tuple[str, ...] = ("initiated", "ringing", "answered", "completed")


class TelephonyError(Exception):
    """The carrier refused or failed a request; `status`/`code` are the carrier's when it answered."""

    def __init__(self, message: str, status: int | None = None, code: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code


@dataclass(frozen=True)
class CallInfo:
    """A call leg as the carrier reports it after a REST request."""

    sid: str
    status: str
    direction: str | None = None
    from_number: str | None = None
    to_number: str | None = None
    parent_call_sid: str | None = None


@dataclass(frozen=True)
class ConferenceInfo:
    """A conference room (`friendly_name` is the name the TwiML or participant request gave it)."""

    sid: str
    friendly_name: str
    status: str


@dataclass(frozen=True)
class ParticipantInfo:
    """One call in a conference and its mode (mute, hold, coaching)."""

    call_sid: str
    conference_sid: str
    status: str | None = None
    label: str | None = None
    muted: bool = False
    hold: bool = False
    coaching: bool = False
    call_sid_to_coach: str | None = None


@dataclass(frozen=True)
class MessageInfo:
    """A text message as the carrier reports it after a REST request (`status` starts as queued)."""

    sid: str
    status: str
    to: str | None = None
    from_: str | None = None
    body: str | None = None
    error_code: int | None = None


@dataclass(frozen=True)
class RecordingInfo:
    """A call recording as the carrier reports it (`status`: in-progress, paused, stopped, completed, ...)."""

    sid: str
    call_sid: str
    status: str


@dataclass(frozen=True)
class Media:
    """A recording's audio, fetched from the carrier with the account's credentials."""

    content: bytes
    content_type: str


# Recording status callback events we ask for when starting a recording.
RECORDING_EVENTS: tuple[str, ...] = ("in-progress", "completed", "absent")


# Twilio's error code for a recipient who replied STOP: no message reaches them until they reply START.
UNSUBSCRIBED_RECIPIENT = 21610

# Webhook parameters as received: one value or every value of a repeated field; a JSON body is a string.
WebhookParams = Mapping[str, str | Sequence[str]] | str


@runtime_checkable
class Provider(Protocol):
    """What the product asks of a carrier. `TwilioProvider` is the only implementation; the emulator is the
    same provider pointed at the embedded carrier, so both modes run the same code path."""

    name: str
    account_sid: str

    def place_call(
        self,
        to: str,
        from_: str,
        *,
        url: str | None = None,
        twiml: str | None = None,
        status_callback: str | None = None,
        status_callback_events: Sequence[str] = ALL_CALL_EVENTS,
        machine_detection: str | None = None,
        async_amd: bool = False,
        async_amd_status_callback: str | None = None,
        timeout: int | None = None,
        record: bool = False,
    ) -> CallInfo:
        """Dial `to` (E.164 or `client:identity`) from caller ID `from_`; the call runs `url` or `twiml`."""
        ...

    def get_call(self, call_sid: str) -> CallInfo:
        """The carrier's current view of a call."""
        ...

    def redirect_call(self, call_sid: str, *, twiml: str | None = None, url: str | None = None) -> CallInfo:
        """Replace what a live call is doing with new TwiML (a string) or the TwiML at `url`."""
        ...

    def end_call(self, call_sid: str) -> CallInfo:
        """Hang up a call (cancels it while ringing, completes it once answered)."""
        ...

    def find_conference(self, friendly_name: str) -> ConferenceInfo | None:
        """The live (init or in-progress) conference with this name, if there is one."""
        ...

    def add_participant(
        self,
        conference: str,
        *,
        from_: str,
        to: str,
        label: str | None = None,
        early_media: bool = True,
        beep: str | bool = False,
        start_conference_on_enter: bool = True,
        end_conference_on_exit: bool = False,
        muted: bool = False,
        coaching: bool = False,
        call_sid_to_coach: str | None = None,
        timeout: int | None = None,
        status_callback: str | None = None,
        status_callback_events: Sequence[str] = (),
    ) -> ParticipantInfo:
        """Dial `to` into the conference `conference` (its SID, or a friendly name that creates it)."""
        ...

    def hold_participant(
        self, conference_sid: str, call_sid: str, hold: bool = True, hold_url: str | None = None
    ) -> ParticipantInfo:
        """Put a participant on hold (hearing `hold_url`) or take them off hold."""
        ...

    def mute_participant(self, conference_sid: str, call_sid: str, muted: bool = True) -> ParticipantInfo:
        """Mute or unmute a participant."""
        ...

    def coach_participant(
        self, conference_sid: str, call_sid: str, call_sid_to_coach: str | None
    ) -> ParticipantInfo:
        """Whisper to `call_sid_to_coach` only (coaching), or with None speak to everyone (barge)."""
        ...

    def remove_participant(self, conference_sid: str, call_sid: str) -> None:
        """Take a participant out of the conference (their call leg ends)."""
        ...

    def end_conference(self, conference_sid: str) -> ConferenceInfo:
        """End the conference for everyone in it."""
        ...

    def start_recording(self, call_sid: str, *, status_callback: str,
                        status_callback_events: Sequence[str] = RECORDING_EVENTS) -> RecordingInfo:
        """Start recording a live call (both parties); its status callbacks go to `status_callback`."""
        ...

    def set_recording_status(self, call_sid: str, recording_sid: str, status: str) -> RecordingInfo:
        """Pause (`paused`), resume (`in-progress`) or stop (`stopped`) a call's recording."""
        ...

    def recording_media(self, media_url: str) -> Media:
        """The audio behind a RecordingUrl the carrier gave us (never handed to a browser: it is proxied)."""
        ...

    def send_message(self, to: str, from_: str, body: str, status_callback: str | None = None) -> MessageInfo:
        """Send an SMS to `to` (E.164) from our number `from_`; raises TelephonyError when the carrier refuses."""
        ...

    def find_message(self, to: str, from_: str, body: str, created_after: datetime) -> MessageInfo | None:
        """The SMS with this body we sent `to` from `from_` since `created_after`, if the carrier has one: how a
        retry learns that a send whose answer was lost did reach the carrier."""
        ...

    def create_access_token(self, identity: str, ttl: int = 3600) -> str:
        """A signed JWT letting the agent's browser softphone receive and place calls as `identity`."""
        ...

    def validate_webhook(self, url: str, params: WebhookParams, signature: str) -> bool:
        """Whether `signature` (X-Twilio-Signature) proves the carrier sent this request to `url`."""
        ...
