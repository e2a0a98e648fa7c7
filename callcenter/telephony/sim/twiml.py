"""A strict TwiML parser: what Twilio would refuse, and what the emulator cannot execute, is a `TwimlError`.

Twilio answers bad TwiML with error 12100 (document parse failure) or 12200 (schema validation warning) and
plays its application-error message. The emulator does the same, and also records the error so a test fails:
TwiML that only works because the emulator is lenient would break on the real carrier.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass, field

PARSE_ERROR = 12100
SCHEMA_ERROR = 12200
CONTENT_TYPE_ERROR = 12300


class TwimlError(Exception):
    """TwiML the carrier cannot execute; `code` is Twilio's error code for it."""

    def __init__(self, message: str, code: int = SCHEMA_ERROR) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass
class Node:
    """One TwiML element: tag, attributes as given, stripped text and children."""

    tag: str
    attrs: dict[str, str] = field(default_factory=dict)
    text: str = ""
    children: list[Node] = field(default_factory=list)

    def attr(self, name: str, default: str | None = None) -> str | None:
        return self.attrs.get(name, default)

    def int_attr(self, name: str, default: int) -> int:
        value = self.attrs.get(name)
        return default if value in (None, "") else int(value)

    def bool_attr(self, name: str, default: bool) -> bool:
        value = self.attrs.get(name)
        return default if value in (None, "") else value.lower() == "true"

    def float_attr(self, name: str, default: float) -> float:
        value = self.attrs.get(name)
        return default if value in (None, "") else float(value)

    def list_attr(self, name: str) -> list[str]:
        return (self.attrs.get(name) or "").replace(",", " ").split()


# Value checkers: each returns an error message or None.
Check = Callable[[str], str | None]


def _bool(value: str) -> str | None:
    return None if value.lower() in ("true", "false") else "must be true or false"


def _int(minimum: int = 0, maximum: int | None = None) -> Check:
    def check(value: str) -> str | None:
        if not re.fullmatch(r"\d+", value.strip()):
            return "must be a whole number"
        number = int(value)
        if number < minimum or (maximum is not None and number > maximum):
            return f"must be between {minimum} and {maximum}" if maximum is not None else f"must be >= {minimum}"
        return None

    return check


def _number(value: str) -> str | None:
    try:
        return None if float(value) >= 0 else "must be >= 0"
    except ValueError:
        return "must be a number"


def _one_of(*choices: str) -> Check:
    def check(value: str) -> str | None:
        return None if value in choices else f"must be one of {', '.join(choices)}"

    return check


def _ci_one_of(*choices: str) -> Check:
    def check(value: str) -> str | None:
        return None if value.upper() in choices else f"must be one of {', '.join(choices)}"

    return check


def _words(*choices: str) -> Check:
    def check(value: str) -> str | None:
        words = value.replace(",", " ").split()
        bad = [w for w in words if w not in choices]
        if not words or bad:
            return f"must be a space-separated list of {', '.join(choices)}"
        return None

    return check


def _keys(value: str) -> str | None:
    return None if all(c in "0123456789#*" for c in value) else "may only contain 0-9, # and *"


def _dtmf(value: str) -> str | None:
    return None if all(c in "0123456789#*wW" for c in value) else "may only contain 0-9, #, * and w"


def _speech_timeout(value: str) -> str | None:
    return None if value == "auto" or re.fullmatch(r"\d+", value) else "must be 'auto' or a whole number"


def _any(_value: str) -> str | None:
    return None


def _url(value: str) -> str | None:
    return None if value.strip() else "must be a URL"


def _call_sid(value: str) -> str | None:
    return None if re.fullmatch(r"CA[0-9a-fA-F]{32}", value) else "must be a call SID"


METHOD = _ci_one_of("GET", "POST")
CALL_EVENTS = _words("initiated", "ringing", "answered", "completed")
RECORDING_EVENTS = _words("in-progress", "completed", "absent")
CONFERENCE_EVENTS = _words("start", "end", "join", "leave", "mute", "hold", "modify", "speaker", "announcement")
DIAL_RECORD = _one_of(
    "do-not-record", "record-from-answer", "record-from-ringing", "record-from-answer-dual",
    "record-from-ringing-dual", "true", "false",
)

SSML_TAGS = {"break", "emphasis", "lang", "p", "phoneme", "prosody", "s", "say-as", "sub", "w"}


@dataclass(frozen=True)
class Spec:
    """What Twilio allows for one element: attributes with their checks, children, and text."""

    attrs: dict[str, Check]
    children: frozenset[str] = frozenset()
    text: str = "none"  # "none", "optional" or "required"


_STATUS_CALLBACK = {"statusCallback": _url, "statusCallbackMethod": METHOD, "statusCallbackEvent": CALL_EVENTS}

SPECS: dict[str, Spec] = {
    "Response": Spec({}, frozenset({
        "Say", "Play", "Pause", "Gather", "Dial", "Enqueue", "Leave", "Record", "Redirect", "Reject", "Hangup",
    })),
    "Say": Spec({"voice": _any, "loop": _int(), "language": _any}, frozenset(SSML_TAGS), "optional"),
    "Play": Spec({"loop": _int(), "digits": _dtmf}, text="optional"),
    "Pause": Spec({"length": _int()}),
    "Gather": Spec({
        "action": _url, "method": METHOD, "timeout": _int(), "finishOnKey": _keys, "numDigits": _int(1),
        "input": _words("dtmf", "speech"), "speechTimeout": _speech_timeout, "language": _any, "hints": _any,
        "profanityFilter": _bool, "partialResultCallback": _url, "partialResultCallbackMethod": METHOD,
        "speechModel": _any, "enhanced": _bool, "actionOnEmptyResult": _bool, "bargeIn": _bool, "debug": _bool,
        "maxSpeechTime": _int(1), "dtmfDetection": _bool,
    }, frozenset({"Say", "Play", "Pause"})),
    "Dial": Spec({
        "action": _url, "method": METHOD, "timeout": _int(1, 600), "hangupOnStar": _bool, "timeLimit": _int(1),
        "callerId": _any, "record": DIAL_RECORD, "trim": _one_of("trim-silence", "do-not-trim"),
        "recordingStatusCallback": _url, "recordingStatusCallbackMethod": METHOD,
        "recordingStatusCallbackEvent": RECORDING_EVENTS, "answerOnBridge": _bool, "ringTone": _any,
        "recordingTrack": _one_of("both", "inbound", "outbound"), "sequential": _bool,
        "referUrl": _url, "referMethod": METHOD,
    }, frozenset({"Number", "Client", "Conference", "Queue"}), "optional"),
    "Number": Spec({
        "sendDigits": _dtmf, "url": _url, "method": METHOD, "byoc": _any, "machineDetection": _any,
        **_STATUS_CALLBACK,
    }, text="required"),
    "Client": Spec({"url": _url, "method": METHOD, **_STATUS_CALLBACK}, frozenset({"Identity", "Parameter"}),
                   "optional"),
    "Identity": Spec({}, text="required"),
    "Parameter": Spec({"name": _any, "value": _any}),
    "Conference": Spec({
        "muted": _bool, "beep": _one_of("true", "false", "onEnter", "onExit"), "startConferenceOnEnter": _bool,
        "endConferenceOnExit": _bool, "waitUrl": _any, "waitMethod": METHOD, "maxParticipants": _int(2, 250),
        "record": _one_of("do-not-record", "record-from-start"), "region": _any, "coach": _call_sid,
        "trim": _one_of("trim-silence", "do-not-trim"), "statusCallbackEvent": CONFERENCE_EVENTS,
        "statusCallback": _url, "statusCallbackMethod": METHOD, "recordingStatusCallback": _url,
        "recordingStatusCallbackMethod": METHOD, "recordingStatusCallbackEvent": RECORDING_EVENTS,
        "eventCallbackUrl": _url, "jitterBufferSize": _one_of("large", "medium", "small", "off"),
        "participantLabel": _any,
    }, text="required"),
    "Queue": Spec({"url": _url, "method": METHOD, "reservationSid": _any, "postWorkActivitySid": _any},
                  text="required"),
    "Enqueue": Spec({"action": _url, "method": METHOD, "waitUrl": _url, "waitUrlMethod": METHOD,
                     "workflowSid": _any, "maxQueueSize": _int(1, 5000)}, text="required"),
    "Leave": Spec({}),
    "Record": Spec({
        "action": _url, "method": METHOD, "timeout": _int(), "finishOnKey": _keys, "maxLength": _int(),
        "playBeep": _bool, "trim": _one_of("trim-silence", "do-not-trim"), "recordingStatusCallback": _url,
        "recordingStatusCallbackMethod": METHOD, "recordingStatusCallbackEvent": RECORDING_EVENTS,
        "transcribe": _bool, "transcribeCallback": _url, "storageUrl": _url, "storageUrlMethod": METHOD,
        "recordingChannels": _one_of("mono", "dual"),
    }),
    "Redirect": Spec({"method": METHOD}, text="required"),
    "Reject": Spec({"reason": _one_of("rejected", "busy")}),
    "Hangup": Spec({}),
}
for _tag in SSML_TAGS:
    SPECS[_tag] = Spec({
        "strength": _any, "time": _any, "level": _any, "xml:lang": _any, "alphabet": _any, "ph": _any,
        "rate": _any, "pitch": _any, "volume": _any, "interpret-as": _any, "format": _any, "alias": _any,
        "role": _any,
    }, frozenset(SSML_TAGS), "optional")

# Real TwiML the emulator does not execute: named so the error says so instead of "unknown verb".
NOT_EMULATED = {"Connect", "Start", "Stop", "Pay", "Prompt", "Refer", "Echo", "Sms", "Message", "Sip", "Sim",
                "Application", "WhatsApp", "Stream", "Siprec", "Transcription", "Recording", "Task"}
# A document fetched while a caller waits may only use these verbs (Twilio's lists for waitUrl documents).
ENQUEUE_WAIT_VERBS = frozenset({"Play", "Say", "Pause", "Hangup", "Redirect", "Leave", "Gather"})
CONFERENCE_WAIT_VERBS = frozenset({"Play", "Say", "Pause", "Redirect"})
ANNOUNCE_VERBS = frozenset({"Play", "Say", "Pause"})


def parse(document: str, *, allowed_verbs: frozenset[str] | None = None) -> Node:
    """Parse and validate a TwiML document; raise TwimlError on anything Twilio or the emulator would refuse."""
    try:
        root = ET.fromstring(document.strip().encode() if isinstance(document, str) else document)
    except ET.ParseError as exc:
        raise TwimlError(f"TwiML is not well-formed XML: {exc}", PARSE_ERROR) from exc
    if root.tag != "Response":
        raise TwimlError(f"The root element must be <Response>, not <{root.tag}>", PARSE_ERROR)
    node = _convert(root, parent=None)
    if allowed_verbs is not None:
        for verb in node.children:
            if verb.tag not in allowed_verbs:
                raise TwimlError(
                    f"<{verb.tag}> is not allowed in this document (allowed: {', '.join(sorted(allowed_verbs))})"
                )
    return node


def _convert(element: ET.Element, parent: str | None) -> Node:
    tag = element.tag
    spec = SPECS.get(tag)
    if spec is None:
        if tag in NOT_EMULATED:
            raise TwimlError(f"<{tag}> is valid TwiML but the carrier emulator does not execute it")
        raise TwimlError(f"Unknown TwiML element <{tag}>")
    if parent is not None and tag not in SPECS[parent].children:
        raise TwimlError(f"<{tag}> cannot be nested in <{parent}>")
    attrs = dict(element.attrib)
    for name, value in attrs.items():
        check = spec.attrs.get(name)
        if check is None:
            raise TwimlError(f"<{tag}> has no attribute {name!r}")
        problem = check(value)
        if problem:
            raise TwimlError(f"<{tag} {name}={value!r}>: {name} {problem}")
    children = [_convert(child, tag) for child in element]
    text = "".join(element.itertext()).strip() if tag in SSML_TAGS or tag == "Say" else (element.text or "").strip()
    if tag not in SSML_TAGS and tag != "Say":
        tails = "".join((child.tail or "") for child in element).strip()
        if tails:
            text = (text + " " + tails).strip()
    if spec.text == "none" and text:
        raise TwimlError(f"<{tag}> takes no text, got {text[:40]!r}")
    if spec.text == "required" and not text and not (tag == "Client" and children):
        raise TwimlError(f"<{tag}> needs text content")
    if tag == "Play" and not text and "digits" not in attrs:
        raise TwimlError("<Play> needs a URL or a digits attribute")
    if tag == "Dial" and not text and not children:
        raise TwimlError("<Dial> needs a number or a noun to dial")
    if tag == "Dial" and text and children:
        raise TwimlError("<Dial> cannot mix a plain number with nouns")
    if tag == "Dial":
        kinds = {child.tag for child in children}
        if len(kinds & {"Conference", "Queue"}) and len(children) > 1:
            raise TwimlError("<Dial> with <Conference> or <Queue> must have exactly one noun")
    return Node(tag=tag, attrs=attrs, text=text, children=children)
