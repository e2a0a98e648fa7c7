"""The call engine of the embedded carrier: calls, their TwiML execution, bridges, queues and conferences.

Each call leg runs in its own thread. All shared state sits behind one condition variable (`Carrier.cond`);
waits release it, webhooks are sent without holding it, and REST handlers only change state and notify, so
neither a webhook that calls the REST API back nor a test thread can deadlock the carrier. Every wait is
divided by `speed`, so tests run minutes of telephony in a second.
"""

from __future__ import annotations

import logging
import math
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import urljoin, urlsplit

from twilio.request_validator import RequestValidator

from callcenter.telephony.sim import twiml
from callcenter.telephony.sim.conference import CallQueue, Conference, Participant, QueueMember, utcnow
from callcenter.telephony.sim.faults import Faults
from callcenter.telephony.sim.transport import Transport, WebhookResponse, with_query
from callcenter.telephony.sim.twiml import Node, TwimlError

log = logging.getLogger(__name__)

API_VERSION = "2010-04-01"
APPLICATION_ERROR = "We are sorry, an application error has occurred. Goodbye."
DEFAULT_HOLD_MUSIC = "http://com.twilio.sounds.music.s3.amazonaws.com/ClockworkWaltz.mp3"
DEFAULT_QUEUE_MUSIC = "http://com.twilio.music.classical.s3.amazonaws.com/BusyStrings.mp3"
TERMINAL_STATUSES = frozenset({"completed", "busy", "failed", "no-answer", "canceled"})
CALL_EVENTS = ("initiated", "ringing", "answered", "completed")
CONFERENCE_EVENT_NAMES = {
    "start": {"conference-start"}, "end": {"conference-end"}, "join": {"participant-join"},
    "leave": {"participant-leave"}, "mute": {"participant-mute", "participant-unmute"},
    "hold": {"participant-hold", "participant-unhold"}, "modify": {"participant-modify"},
    "announcement": {"announcement-end", "announcement-fail"},
}
AUDIO_SUFFIXES = (".mp3", ".wav", ".ogg", ".aif", ".aiff", ".gsm", ".ulaw")
DEFAULT_RING_SECONDS = 2.0
# A leg's wait re-checks its condition at least this often (real seconds), even if no change woke it: a change
# whose reach the engine judged too narrow costs that leg this delay, never a hang.
RECHECK_SECONDS = 1.0


def new_sid(prefix: str) -> str:
    return prefix + uuid.uuid4().hex


class CarrierRestError(Exception):
    """A REST request the carrier refuses, with Twilio's HTTP status and error code."""

    def __init__(self, status: int, code: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


class CallGone(Exception):
    """The call ended (hangup, cancel, drop) while a verb was executing."""


class Redirected(Exception):
    """A REST update gave the call new instructions; carries where to go."""

    def __init__(self, source: Source) -> None:
        super().__init__("redirected")
        self.source = source


class Breakout(Exception):
    """A scoped condition (dequeued, hold lifted, conference started) ends a nested wait document."""


class ApplicationFailure(Exception):
    """The application's TwiML could not be fetched or executed (Twilio plays its error message)."""

    def __init__(self, message: str, code: int = 11200) -> None:
        super().__init__(message)
        self.code = code


@dataclass
class Source:
    """Where the next TwiML comes from: a URL to request (with extra fields) or an inline document."""

    url: str | None = None
    method: str = "POST"
    twiml: str | None = None
    params: dict[str, str] = field(default_factory=dict)
    base_url: str | None = None


@dataclass
class PhoneNumber:
    """A number the carrier routes to the application."""

    e164: str
    voice_url: str
    method: str = "POST"
    status_callback: str | None = None
    status_callback_events: tuple[str, ...] = ("completed",)
    fallback_url: str | None = None
    fallback_method: str = "POST"
    sid: str = field(default_factory=lambda: new_sid("PN"))


@dataclass
class PhoneBehaviour:
    """How an external number answers the carrier's outbound calls."""

    answer: str = "auto"  # auto, manual, busy, no-answer, failed
    ring_seconds: float = DEFAULT_RING_SECONDS
    answered_by: str = "human"


@dataclass
class WebhookRecord:
    """One request the carrier sent: for assertions on what the application was told."""

    kind: str
    method: str
    url: str
    params: dict[str, str]
    status: int
    latency: float
    call_sid: str | None
    fault: str | None = None
    body: str = ""
    at: float = field(default_factory=time.monotonic)


@dataclass
class CarrierError:
    """Something the application did that Twilio would reject; tests fail when any is recorded."""

    call_sid: str | None
    url: str | None
    code: int
    message: str


@dataclass
class Recording:
    sid: str
    call_sid: str
    duration: int
    text: str
    date_created: datetime = field(default_factory=utcnow)
    # A recording started with the Calls/{Sid}/Recordings REST resource runs while the call does: it can be
    # paused, resumed and stopped, and it ends with the call.
    status: str = "completed"
    source: str = "RecordVerb"
    started: float | None = None  # time.monotonic() when started
    paused_since: float | None = None
    paused_total: float = 0.0
    status_callback: str | None = None
    status_callback_method: str = "POST"
    status_callback_events: tuple[str, ...] = ("completed",)
    date_updated: datetime = field(default_factory=utcnow)


@dataclass
class Pending:
    kind: str  # redirect, hangup, cancel, drop, reject
    source: Source | None = None


class Call:
    """One call leg, as the REST API shows it and as the engine runs it."""

    def __init__(self, carrier: Carrier, *, from_: str, to: str, direction: str, parent: Call | None = None) -> None:
        now = utcnow()
        self.carrier = carrier
        self.sid = new_sid("CA")
        self.account_sid = carrier.account_sid
        self.from_ = from_
        self.to = to
        self.direction = direction
        self.parent_call_sid = parent.sid if parent else None
        self.phone_number_sid: str | None = None
        self.status = "queued"
        self.date_created = now
        self.date_updated = now
        self.start_time: datetime | None = None
        self.end_time: datetime | None = None
        self.answered_at: float | None = None
        self.duration: int | None = None
        self.answered_by: str | None = None
        self.queue_time: str | None = None
        self.caller_name: str | None = None
        self.forwarded_from: str | None = None
        self.status_callback: str | None = None
        self.status_callback_method = "POST"
        self.status_callback_events: set[str] = set()
        self.fallback_url: str | None = None
        self.fallback_method = "POST"
        self.record = False
        self.custom_params: dict[str, str] = {}
        # runtime
        self.events: list[dict[str, Any]] = []
        self.listeners: list[Callable[[Call, dict[str, Any]], None]] = []
        self.inputs: deque[tuple[str, Any]] = deque()
        self.listening: frozenset[str] = frozenset()
        self.pending: Pending | None = None
        self.breakers: list[Callable[[], bool]] = []
        self.ended = False
        self.dropped = False
        self.peer: Call | None = None
        self.participant: Participant | None = None
        self.queue_member: QueueMember | None = None
        self.answered_by_endpoint: Any = None
        self.ring_endpoints: list[Any] = []
        self.bridge_ready = False
        self.muted = False
        self.sequence = 0
        self.held_callbacks: list[tuple[str, dict[str, str]]] = []
        self.thread: threading.Thread | None = None
        # The leg's own wake-up, on the carrier's lock: changes wake the legs they concern, not all of them.
        self.waker = threading.Condition(carrier._lock)
        # Threads watching this call from its far end (a test's or the bench's CallHandle): woken by its events
        # and by the changes that concern it, not by every change of every call.
        self.watchers = threading.Condition(carrier._lock)

    def __repr__(self) -> str:
        return f"<Call {self.sid} {self.from_}->{self.to} {self.direction} {self.status}>"

    @property
    def answered(self) -> bool:
        return self.answered_at is not None


@contextmanager
def _counted(registry: dict[Call, int], call: Call) -> Iterator[None]:
    """Count `call` in `registry` (the calls someone waits on now, and how many threads) while the block runs;
    `_wake` reads it to know whom a change concerns. Callers hold the carrier's lock."""
    registry[call] = registry.get(call, 0) + 1
    try:
        yield
    finally:
        if registry[call] > 1:
            registry[call] -= 1
        else:
            del registry[call]


class Carrier:
    """The emulated Twilio: numbers, calls, conferences, queues, registered clients, webhooks, faults."""

    def __init__(
        self,
        *,
        account_sid: str,
        auth_token: str,
        transport: Transport,
        base_url: str = "http://localhost",
        speed: float = 1.0,
        client_voice_url: str | None = None,
        twiml_app_sid: str | None = None,
    ) -> None:
        if speed <= 0:
            raise ValueError("speed must be positive")
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.transport = transport
        self.base_url = base_url.rstrip("/")
        self.speed = float(speed)
        self.client_voice_url = client_voice_url
        self.twiml_app_sid = twiml_app_sid
        self.validator = RequestValidator(auth_token)
        lock = threading.RLock()
        # One lock, several conditions. `cond` wakes everyone who watches the carrier (tests' handles, the REST
        # layer); each call's `waker` wakes the threads waiting in that leg, and only for changes their waits can
        # depend on (see `_wake`). With one condition for every leg, each change woke all of them: at a few
        # hundred calls the bench's harness spent about half of its GIL time re-taking this lock in woken legs.
        self._lock = lock
        self.cond = threading.Condition(lock)
        self._waiting: dict[Call, int] = {}  # legs waiting in `_wait` now, and how many threads wait on each
        self._watched: dict[Call, int] = {}  # calls a far-end handle waits on now (`watch`), and how many
        self.numbers: dict[str, PhoneNumber] = {}
        self.phones: dict[str, PhoneBehaviour] = {}
        self.calls: dict[str, Call] = {}
        self.conferences: dict[str, Conference] = {}
        self.queues: dict[str, CallQueue] = {}
        self.clients: dict[str, list[Any]] = {}
        self.recordings: dict[str, Recording] = {}
        self.messages: dict[str, Any] = {}  # sid -> sim.messaging.SimMessage: the texts the product sent
        self.unsubscribed: set[str] = set()  # numbers that replied STOP: texts to them fail with 21610
        self.webhook_log: list[WebhookRecord] = []
        self.errors: list[CarrierError] = []
        self.faults = Faults()
        self.faults._drop_handler = self.drop
        self._threads: set[threading.Thread] = set()
        self._closed = False

    # ---- configuration -------------------------------------------------------------------------------------

    def add_number(
        self,
        e164: str,
        voice_url: str,
        status_callback: str | None = None,
        fallback_url: str | None = None,
        method: str = "POST",
        status_callback_events: tuple[str, ...] | list[str] = ("completed",),
    ) -> PhoneNumber:
        """Route calls to `e164` to `voice_url`; by default only `completed` goes to the status callback."""
        bad = [e for e in status_callback_events if e not in CALL_EVENTS]
        if bad:
            raise ValueError(f"unknown status callback events {bad}")
        number = PhoneNumber(e164, voice_url, method.upper(), status_callback, tuple(status_callback_events),
                             fallback_url)
        with self.cond:
            self.numbers[e164] = number
        return number

    def phone(self, e164: str, answer: str = "auto", ring_seconds: float = DEFAULT_RING_SECONDS,
              answered_by: str = "human") -> PhoneBehaviour:
        """Say how an external number answers outbound calls (auto, manual, busy, no-answer, failed)."""
        if answer not in ("auto", "manual", "busy", "no-answer", "failed"):
            raise ValueError(f"unknown answer mode {answer!r}")
        behaviour = PhoneBehaviour(answer, ring_seconds, answered_by)
        with self.cond:
            self.phones[e164] = behaviour
        return behaviour

    # ---- clients (browser softphones and test endpoints) -----------------------------------------------------

    def notify_all(self) -> None:
        """Wake every waiter (call legs and observers) after a change whose reach is wide or unknown (queues,
        endpoints, shutdown); called with the lock held."""
        for call in self._waiting:
            call.waker.notify_all()
        for call in self._watched:
            call.watchers.notify_all()
        self.cond.notify_all()

    def _wake(self, *changed: Call) -> None:
        """Wake the observers and the legs a change of the `changed` calls can concern; called with the lock held."""
        for waiting in self._waiting:
            if any(self._concerns(call, waiting) for call in changed):
                waiting.waker.notify_all()
        for watched in self._watched:
            if any(self._concerns(call, watched) for call in changed):
                watched.watchers.notify_all()
        self.cond.notify_all()

    def watch(self, call: Call, ready: Callable[[], bool], deadline: float) -> bool:
        """Wait until `ready()` (checked under the lock) or the monotonic `deadline`; whether it became ready.

        For a far end watching one call: it sleeps on the call's own condition, woken by the call's events and the
        changes `_wake` judges to concern it, and re-checks at least every RECHECK_SECONDS. Hundreds of bench
        callers waiting on the carrier-wide condition were all woken by every change of every call."""
        with self.cond, _counted(self._watched, call):
            while not ready():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                call.watchers.wait(min(remaining, RECHECK_SECONDS))
            return True

    def _wake_conference(self, conference: Conference) -> None:
        """Wake the observers and every leg a change of `conference` (status, a participant) can concern."""
        self._wake(*(participant.call for participant in conference.participants))

    @staticmethod
    def _concerns(changed: Call, waiting: Call) -> bool:
        """Whether a change of `changed` can end a wait of `waiting`: the same leg, a leg bridged to it or dialled
        from it, a fellow participant of its conference; anything near an <Enqueue> queue, to be safe."""
        if waiting is changed or waiting.peer is changed or changed.peer is waiting:
            return True
        if waiting.parent_call_sid == changed.sid or changed.parent_call_sid == waiting.sid:
            return True
        if waiting.queue_member is not None or changed.queue_member is not None:
            return True
        mine, theirs = waiting.participant, changed.participant
        return mine is not None and theirs is not None and mine.conference is theirs.conference

    def register_client(self, identity: str, endpoint: Any) -> None:
        """Let `endpoint` (with ring(call) and cancel(call) methods) receive calls for client:identity."""
        with self.cond:
            endpoints = self.clients.setdefault(identity, [])
            if endpoint not in endpoints:
                endpoints.append(endpoint)
            self.notify_all()

    def unregister_client(self, identity: str, endpoint: Any) -> None:
        with self.cond:
            endpoints = self.clients.get(identity, [])
            if endpoint in endpoints:
                endpoints.remove(endpoint)
            if not endpoints:
                self.clients.pop(identity, None)

    def is_registered(self, identity: str) -> bool:
        with self.cond:
            return bool(self.clients.get(identity))

    def client(self, identity: str) -> Any:
        """A test softphone registered as client:identity (the same one on every call)."""
        from callcenter.telephony.sim.phone import ClientEndpoint

        with self.cond:
            for endpoint in self.clients.get(identity, []):
                if isinstance(endpoint, ClientEndpoint):
                    return endpoint
        return ClientEndpoint(self, identity)

    def answering_phone(self, e164: str) -> Any:
        """An external number that rings until the test answers it (`.wait_for_incoming().answer()`)."""
        from callcenter.telephony.sim.phone import PhoneEndpoint

        return PhoneEndpoint(self, e164)

    def handle(self, call_sid: str) -> Any:
        """A test handle on any call the carrier knows."""
        from callcenter.telephony.sim.phone import CallHandle

        with self.cond:
            return CallHandle(self, self.calls[call_sid])

    def find_calls(self, **filters: str) -> list[Call]:
        """Calls whose attributes equal `filters` (e.g. to=..., direction=..., status=...), oldest first."""
        with self.cond:
            return [c for c in self.calls.values() if all(getattr(c, k) == v for k, v in filters.items())]

    # ---- the far end's actions (caller, callee, agent) ---------------------------------------------------------

    def answer(self, call_sid: str, endpoint: Any = None) -> bool:
        """The far end picks up a ringing call; False if it is no longer ringing."""
        with self.cond:
            call = self.calls.get(call_sid)
            if call is None or call.ended or call.answered or call.answered_by_endpoint is not None:
                return False
            call.answered_by_endpoint = endpoint or "phone"
            self._wake(call)
            return True

    def reject(self, call_sid: str) -> bool:
        """The far end declines a ringing call (busy)."""
        with self.cond:
            call = self.calls.get(call_sid)
            if call is None or call.ended or call.answered:
                return False
            call.pending = Pending("reject")
            self._wake(call)
            return True

    def hangup(self, call_sid: str) -> bool:
        """The far end hangs up."""
        with self.cond:
            call = self.calls.get(call_sid)
            if call is None or call.ended:
                return False
            if call.pending is None or call.pending.kind == "redirect":
                call.pending = Pending("hangup")
            self._wake(call)
            return True

    def send_digits(self, call_sid: str, digits: str) -> None:
        """DTMF from the far end: to a listening verb, else to the bridged party."""
        self._input(call_sid, "dtmf", digits)

    def speak(self, call_sid: str, text: str) -> None:
        """Speech from the far end: speech recognition, a recording, the bridged party or the conference."""
        self._input(call_sid, "speech", text)

    def record_audio(self, call_sid: str, seconds: float, text: str = "") -> None:
        """The far end talks into a <Record> for `seconds` (nominal), ending the recording."""
        self._input(call_sid, "record", (seconds, text))

    def set_muted(self, call_sid: str, muted: bool) -> None:
        """Local mute of a softphone: the others stop hearing it."""
        with self.cond:
            call = self.calls.get(call_sid)
            if call is not None:
                call.muted = muted
        if call is not None:
            self._emit(call, {"type": "muted", "muted": muted})

    def _input(self, call_sid: str, kind: str, value: Any) -> None:
        deliveries: list[tuple[Call, dict[str, Any]]] = []
        with self.cond:
            call = self.calls.get(call_sid)
            if call is None or call.ended:
                return
            if kind in call.listening or (kind == "speech" and "record" in call.listening):
                call.inputs.append((kind, value))
            elif call.peer is not None and call.bridge_ready and call.peer.bridge_ready and not call.muted:
                event = {"type": "heard" if kind == "speech" else "dtmf", "from": call.sid}
                event["text" if kind == "speech" else "digits"] = value
                deliveries.append((call.peer, event))
            elif call.participant is not None and kind == "speech" and not call.muted:
                speaker = call.participant
                for other in speaker.conference.active():
                    if other.hears(speaker):
                        deliveries.append((other.call, {"type": "heard", "text": value, "from": call.sid,
                                                        "label": speaker.label}))
            self._wake(call)
        for target, event in deliveries:
            self._emit(target, event)

    # ---- placing calls ------------------------------------------------------------------------------------

    def dial(self, from_: str, to: str, *, caller_name: str | None = None,
             forwarded_from: str | None = None, listener: Callable | None = None) -> Any:
        """A caller on the public network dials one of the carrier's numbers; returns a test handle."""
        from callcenter.telephony.sim.phone import CallHandle

        call = self.start_inbound(from_, to, caller_name=caller_name, forwarded_from=forwarded_from,
                                  listener=listener)
        return CallHandle(self, call)

    def start_inbound(self, from_: str, to: str, *, caller_name: str | None = None,
                      forwarded_from: str | None = None, listener: Callable | None = None) -> Call:
        """Create and start an inbound call to one of our numbers."""
        with self.cond:
            number = self.numbers.get(to)
        if number is None:
            raise ValueError(f"{to} is not a number of this carrier (known: {', '.join(self.numbers) or 'none'})")
        call = Call(self, from_=from_, to=to, direction="inbound")
        call.phone_number_sid = number.sid
        call.caller_name = caller_name
        call.forwarded_from = forwarded_from
        call.status_callback = number.status_callback
        call.status_callback_events = set(number.status_callback_events)
        call.fallback_url = number.fallback_url
        call.fallback_method = number.fallback_method
        if listener:
            call.listeners.append(listener)
        self._register(call)
        self._start(call, self._run_inbound, Source(number.voice_url, number.method))
        return call

    def client_connect(self, identity: str, params: dict[str, str], listener: Callable | None = None) -> Call:
        """A registered softphone places a call (device.connect): the TwiML app's voice URL decides."""
        if not self.client_voice_url:
            raise ValueError("no voice URL is configured for client calls")
        call = Call(self, from_=f"client:{identity}", to=params.get("To", ""), direction="inbound")
        call.custom_params = {k: str(v) for k, v in params.items()}
        if listener:
            call.listeners.append(listener)
        self._register(call)
        extra = dict(call.custom_params)
        if self.twiml_app_sid:
            extra["ApplicationSid"] = self.twiml_app_sid
        self._start(call, self._run_inbound, Source(self.client_voice_url, "POST", params=extra))
        return call

    def place_call(
        self,
        *,
        to: str,
        from_: str,
        url: str | None = None,
        twiml: str | None = None,
        method: str = "POST",
        fallback_url: str | None = None,
        fallback_method: str = "POST",
        status_callback: str | None = None,
        status_callback_events: list[str] | None = None,
        status_callback_method: str = "POST",
        timeout: int = 60,
        machine_detection: str | None = None,
        async_amd: bool = False,
        async_amd_status_callback: str | None = None,
        record: bool = False,
        defer_start: bool = False,
    ) -> Call:
        """REST `Calls.json` create: an outbound-api call that runs `url` or `twiml` once answered.

        With `defer_start`, the call stays `queued` until `launch(call)` (the REST answer shows it queued).
        """
        if not to:
            raise CarrierRestError(400, 21201, "No 'To' number is specified")
        if not from_:
            raise CarrierRestError(400, 21213, "No 'From' number is specified")
        if (url is None) == (twiml is None):
            raise CarrierRestError(400, 21205, "Either Url or Twiml (and not both) is required")
        if twiml is not None:
            try:
                twiml_doc = twiml
                twiml_module_parse(twiml_doc)
            except TwimlError as exc:
                raise CarrierRestError(400, 21205, f"Twiml is invalid: {exc.message}") from exc
        events = status_callback_events or ["completed"]
        bad = [e for e in events if e not in CALL_EVENTS]
        if bad:
            raise CarrierRestError(400, 21626, f"Invalid StatusCallbackEvent {bad[0]!r}")
        call = Call(self, from_=from_, to=to, direction="outbound-api")
        call.status_callback = status_callback
        call.status_callback_method = status_callback_method.upper()
        call.status_callback_events = set(events)
        call.fallback_url = fallback_url
        call.fallback_method = fallback_method.upper()
        call.record = record
        self._register(call)
        source = Source(url=url, method=method.upper(), twiml=twiml)
        amd = {"mode": machine_detection, "async": async_amd, "callback": async_amd_status_callback}
        self._start(call, self._run_outbound, source, timeout, amd, defer=defer_start)
        return call

    def redirect(self, call_sid: str, *, url: str | None = None, twiml: str | None = None,
                 method: str = "POST") -> Call:
        """REST update with Url or Twiml: interrupt whatever the call does and run the new instructions."""
        if twiml is not None:
            try:
                twiml_module_parse(twiml)
            except TwimlError as exc:
                raise CarrierRestError(400, 21205, f"Twiml is invalid: {exc.message}") from exc
        with self.cond:
            call = self._live_call(call_sid)
            if call.status != "in-progress":
                raise CarrierRestError(400, 21220, "Call is not in-progress. Cannot redirect.")
            if call.pending is None or call.pending.kind == "redirect":
                call.pending = Pending("redirect", Source(url=url, method=method.upper(), twiml=twiml))
            call.date_updated = utcnow()
            self._wake(call)
            return call

    def end(self, call_sid: str, status: str = "completed") -> Call:
        """REST update Status=completed (any live call) or canceled (only queued or ringing calls)."""
        with self.cond:
            call = self.calls.get(call_sid)
            if call is None:
                raise CarrierRestError(404, 20404, f"The requested resource Call {call_sid} was not found")
            if call.ended:
                return call
            if status == "canceled" and call.answered:
                return call  # Twilio ignores a cancel of an answered call
            call.pending = Pending("cancel" if status == "canceled" or not call.answered else "hangup")
            self._wake(call)
            return call

    def drop(self, call_sid: str) -> None:
        """Fault: the leg vanishes; no webhooks, no callbacks; its peers see it gone."""
        with self.cond:
            call = self.calls.get(call_sid)
            if call is None or call.ended:
                return
            call.dropped = True
            call.pending = Pending("drop")
            self._wake(call)

    def _live_call(self, call_sid: str) -> Call:
        call = self.calls.get(call_sid)
        if call is None:
            raise CarrierRestError(404, 20404, f"The requested resource Call {call_sid} was not found")
        if call.ended:
            raise CarrierRestError(400, 21220, "Call is not in-progress. Cannot redirect.")
        return call

    def _register(self, call: Call) -> None:
        with self.cond:
            if self._closed:
                raise RuntimeError("the carrier is shut down")
            self.calls[call.sid] = call

    def _start(self, call: Call, target: Callable, *args: Any, defer: bool = False) -> None:
        thread = threading.Thread(target=self._guard, args=(call, target, *args), name=f"sim-{call.sid[:10]}",
                                  daemon=True)
        call.thread = thread
        with self.cond:
            self._threads.add(thread)
        if not defer:
            thread.start()

    def launch(self, call: Call) -> None:
        """Start a call created with `defer_start=True`."""
        if call.thread is not None and not call.thread.is_alive() and call.thread.ident is None:
            call.thread.start()

    def _spawn(self, name: str, fn: Callable, *args: Any) -> None:
        """Background work for REST-triggered webhooks: never send them from the REST request itself."""

        def run() -> None:
            try:
                fn(*args)
            except Exception:
                log.exception("carrier background task %s failed", name)
            finally:
                with self.cond:
                    self._threads.discard(threading.current_thread())

        thread = threading.Thread(target=run, name=f"sim-{name}", daemon=True)
        with self.cond:
            self._threads.add(thread)
        thread.start()

    def _guard(self, call: Call, target: Callable, *args: Any) -> None:
        status = "completed"
        try:
            status = target(call, *args) or "completed"
        except CallGone as gone:
            status = str(gone) or "completed"
        except Exception as exc:  # a bug in the engine must not leave a call hanging forever
            log.exception("carrier engine failed on %s", call.sid)
            self._record_error(call, None, 0, f"carrier engine error: {exc}")
        finally:
            try:
                self._finish(call, status)
            finally:
                with self.cond:
                    self._threads.discard(threading.current_thread())
                    self._wake(call)

    # ---- waiting ---------------------------------------------------------------------------------------------

    def _check(self, call: Call) -> None:
        """Raise if the call must stop what it is doing (called with the lock held)."""
        pending = call.pending
        if pending is not None:
            if pending.kind == "redirect":
                call.pending = None
                assert pending.source is not None
                raise Redirected(pending.source)
            raise CallGone({"hangup": "completed", "drop": "completed", "cancel": "canceled",
                            "reject": "busy"}.get(pending.kind, "completed"))
        for breaker in call.breakers:
            if breaker():
                raise Breakout()

    def _wait(self, call: Call, seconds: float | None, until: Callable[[], bool] | None = None) -> bool:
        """Wait `seconds` (nominal, divided by speed; None: forever) or until `until()`; True if it held."""
        deadline = None if seconds is None else time.monotonic() + seconds / self.speed
        with self.cond, _counted(self._waiting, call):
            while True:
                self._check(call)
                if until is not None and until():
                    return True
                pause = RECHECK_SECONDS
                if deadline is not None:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        return False
                    pause = min(pause, remaining)
                call.waker.wait(pause)

    @contextmanager
    def _breaker(self, call: Call, predicate: Callable[[], bool]) -> Iterator[None]:
        with self.cond:
            call.breakers.append(predicate)
        try:
            yield
        finally:
            with self.cond:
                call.breakers.remove(predicate)

    @contextmanager
    def _listening(self, call: Call, kinds: set[str]) -> Iterator[None]:
        with self.cond:
            call.inputs.clear()
            call.listening = frozenset(kinds)
            self._wake(call)
        try:
            yield
        finally:
            with self.cond:
                call.listening = frozenset()
                call.inputs.clear()

    # ---- events to the far end -------------------------------------------------------------------------------

    def _emit(self, call: Call, event: dict[str, Any]) -> None:
        event = {"call_sid": call.sid, "at": time.monotonic(), **event}
        with self.cond:
            call.events.append(event)
            listeners = list(call.listeners)
            call.watchers.notify_all()  # its far end; no leg waits on its events
            self.cond.notify_all()
        for listener in listeners:
            try:
                listener(call, event)
            except Exception:
                log.exception("call event listener failed")

    # ---- call lifecycles -------------------------------------------------------------------------------------

    def _run_inbound(self, call: Call, source: Source) -> str:
        with self.cond:
            call.status = "ringing"
            self._wake(call)
        self._status(call, "initiated")
        self._status(call, "ringing")
        self._emit(call, {"type": "ringing"})
        return self._execute(call, source, answer_on_first_verb=True)

    def _run_outbound(self, call: Call, source: Source, timeout: int, amd: dict[str, Any]) -> str:
        outcome = self._ring(call, timeout)
        if outcome != "answered":
            return outcome
        params: dict[str, str] = {}
        if amd.get("mode"):
            answered_by = self._phone(call.to).answered_by
            with self.cond:
                call.answered_by = answered_by
            if amd.get("async"):
                if amd.get("callback"):
                    self._spawn("amd", self._async_amd, call, amd["callback"], answered_by)
            else:
                params["AnsweredBy"] = answered_by
        source.params.update(params)
        return self._execute(call, source)

    def _async_amd(self, call: Call, url: str, answered_by: str) -> None:
        time.sleep(2.0 / self.speed)
        if not call.dropped:
            self._webhook(call, "amd", url, "POST", {**self._call_params(call), "AnsweredBy": answered_by,
                                                      "MachineDetectionDuration": "2000"})

    def _phone(self, number: str) -> PhoneBehaviour:
        with self.cond:
            return self.phones.get(number) or PhoneBehaviour()

    def _ring(self, call: Call, timeout: int, parent: Call | None = None) -> str:
        """Ring the far end of an outbound leg; 'answered' or the final status."""
        self._status(call, "initiated")
        with self.cond:
            call.status = "ringing"
            call.date_updated = utcnow()
            self._wake(call)
        self._status(call, "ringing")
        identity = call.to[len("client:"):] if call.to.startswith("client:") else None
        started = time.monotonic()
        try:
            if identity is not None:
                with self.cond:
                    endpoints = list(self.clients.get(identity, []))
                    call.ring_endpoints = endpoints
                for endpoint in endpoints:
                    endpoint.ring(call)
                answered = self._wait(call, timeout, lambda: call.answered_by_endpoint is not None)
            else:
                phone = self._phone(call.to)
                if phone.answer in ("busy", "failed"):
                    self._wait(call, min(phone.ring_seconds, timeout))
                    return phone.answer
                if phone.answer == "auto":
                    answered = self._wait(call, min(phone.ring_seconds, timeout)) is False and \
                        phone.ring_seconds <= timeout
                    if answered:
                        with self.cond:
                            call.answered_by_endpoint = "phone"
                elif phone.answer == "manual":
                    self._emit(call, {"type": "incoming"})
                    answered = self._wait(call, timeout, lambda: call.answered_by_endpoint is not None)
                else:
                    answered = self._wait(call, timeout) and False
        except CallGone as gone:
            self._cancel_ringing(call, except_endpoint=None)
            if str(gone) == "busy":
                return "busy"
            return "canceled"
        if not answered:
            self._cancel_ringing(call, except_endpoint=None)
            return "no-answer"
        self._cancel_ringing(call, except_endpoint=call.answered_by_endpoint)
        with self.cond:
            call.queue_time = str(int((time.monotonic() - started) * 1000))
        self._answer(call)
        return "answered"

    def _cancel_ringing(self, call: Call, except_endpoint: Any) -> None:
        for endpoint in call.ring_endpoints:
            if endpoint is not except_endpoint:
                try:
                    endpoint.cancel(call)
                except Exception:
                    log.exception("cancel to a client endpoint failed")

    def _answer(self, call: Call) -> None:
        with self.cond:
            if call.answered:
                return
            call.answered_at = time.monotonic()
            call.start_time = utcnow()
            call.date_updated = call.start_time
            call.status = "in-progress"
            self._wake(call)
        self._status(call, "answered")
        self._emit(call, {"type": "answered"})

    def _finish(self, call: Call, status: str) -> None:
        """End the leg once: status, duration, its peers and rooms, then the completed callback."""
        with self.cond:
            if call.ended:
                return
            call.ended = True
            if status not in TERMINAL_STATUSES:
                status = "completed"
            if call.answered and status in ("canceled", "busy", "no-answer"):
                status = "completed"
            call.status = status
            call.end_time = utcnow()
            call.date_updated = call.end_time
            call.duration = int((time.monotonic() - call.answered_at) * self.speed) if call.answered_at else 0
            call.listening = frozenset()
            member = call.queue_member
            participant = call.participant
            self._wake(call)
        if member is not None:
            self._leave_queue(member)
        if participant is not None and not participant.left:
            self._leave_conference(participant, "left")
        self._cancel_ringing(call, except_endpoint=call.answered_by_endpoint)
        self._emit(call, {"type": "ended", "status": status})
        self._end_call_recordings(call)
        if not call.dropped:
            extra: dict[str, str] = {}
            if call.record and call.answered:
                recording = self._new_recording(call, call.duration or 0, "")
                extra.update(self._recording_params(recording))
            self._status(call, "completed", extra)
        self._flush_callbacks(call)

    # ---- TwiML execution -------------------------------------------------------------------------------------

    def _execute(self, call: Call, source: Source | None, answer_on_first_verb: bool = False) -> str:
        """Run documents until one ends without a successor: then the call hangs up."""
        while source is not None:
            try:
                document, url = self._load(call, source)
                source = self._run_verbs(call, document.children, url, answer_on_first_verb)
            except Redirected as redirect:
                source = redirect.source
            except ApplicationFailure:
                self._application_error(call)
                return "completed"
        return "completed"

    def _application_error(self, call: Call) -> None:
        if not call.answered and call.direction == "inbound":
            self._answer(call)
        with suppress(Redirected, Breakout):
            self._say(call, APPLICATION_ERROR)

    def _run_verbs(self, call: Call, verbs: list[Node], doc_url: str | None, answer_first: bool,
                   in_queue: QueueMember | None = None) -> Source | None:
        """Execute verbs in order; a Source means 'continue there', None means the document ended."""
        for verb in verbs:
            with self.cond:
                self._check(call)
            if answer_first and verb.tag != "Reject" and not call.answered:
                self._answer(call)
            handler = getattr(self, f"_verb_{verb.tag.lower()}")
            outcome = handler(call, verb, doc_url) if verb.tag != "Leave" else self._verb_leave(call, in_queue)
            if outcome is not None:
                return outcome
        return None

    def _load(self, call: Call, source: Source, allowed: frozenset[str] | None = None) -> tuple[Node, str | None]:
        """The document for `source`: inline, or fetched (with the fallback URL, as Twilio does)."""
        if source.twiml is not None:
            try:
                return twiml.parse(source.twiml, allowed_verbs=allowed), source.base_url
            except TwimlError as exc:
                self._record_error(call, None, exc.code, exc.message)
                raise ApplicationFailure(exc.message) from exc
        assert source.url is not None
        try:
            return self._fetch(call, source.url, source.method, source.params, allowed), source.url
        except ApplicationFailure as failure:
            if not call.fallback_url or call.dropped:
                raise
            params = {**source.params, "ErrorCode": str(failure.code), "ErrorUrl": source.url}
            return self._fetch(call, call.fallback_url, call.fallback_method, params, allowed), call.fallback_url

    def _fetch(self, call: Call, url: str, method: str, extra: dict[str, str],
               allowed: frozenset[str] | None) -> Node:
        params = {**self._call_params(call), **extra}
        response, fault = self._webhook(call, "twiml", url, method, params)
        failure: ApplicationFailure | None = None
        if call.dropped:
            raise CallGone("completed")
        if response.status == 0:
            failure = ApplicationFailure(f"no response from {url}: {response.error}")
        elif not 200 <= response.status < 300:
            failure = ApplicationFailure(f"HTTP {response.status} from {url}")
        else:
            content_type = response.content_type.split(";")[0].strip().lower()
            if content_type not in ("text/xml", "application/xml"):
                failure = ApplicationFailure(f"{url} answered Content-Type {content_type!r}, not TwiML (text/xml)",
                                             twiml.CONTENT_TYPE_ERROR)
            else:
                try:
                    return twiml.parse(response.body, allowed_verbs=allowed)
                except TwimlError as exc:
                    failure = ApplicationFailure(f"{url}: {exc.message}", exc.code)
        if not fault:
            self._record_error(call, url, failure.code, str(failure))
        raise failure

    def _resolve(self, doc_url: str | None, url: str) -> str:
        """Absolute URL of `url` relative to the current document, like Twilio."""
        if urlsplit(url).scheme:
            return url
        if not doc_url:
            raise ApplicationFailure(f"relative URL {url!r} in a document that has no URL")
        return urljoin(doc_url, url)

    # ---- simple verbs ----------------------------------------------------------------------------------------

    def _say(self, call: Call, text: str, voice: str | None = None, language: str | None = None,
             interruptible: Callable[[], bool] | None = None) -> bool:
        """Speak `text`; returns True when cut short by input (barge-in)."""
        self._emit(call, {"type": "say", "text": text, "voice": voice, "language": language})
        return self._wait(call, max(0.3, 0.06 * len(text)), interruptible)

    def _verb_say(self, call: Call, verb: Node, doc_url: str | None,
                  interruptible: Callable[[], bool] | None = None) -> None:
        loops = verb.int_attr("loop", 1)
        count = 0
        while loops == 0 or count < loops:
            count += 1
            if self._say(call, verb.text, verb.attr("voice"), verb.attr("language"), interruptible):
                return None
            if loops == 0 and count >= 1000:
                break
        return None

    def _verb_play(self, call: Call, verb: Node, doc_url: str | None,
                   interruptible: Callable[[], bool] | None = None) -> None:
        digits = verb.attr("digits")
        if digits:
            self._emit(call, {"type": "play", "digits": digits, "url": None})
            if call.peer is not None:
                self._emit(call.peer, {"type": "dtmf", "digits": digits.replace("w", ""), "from": call.sid})
            self._wait(call, 0.5 * len(digits), interruptible)
            return None
        url = self._resolve(doc_url, verb.text)
        loops = verb.int_attr("loop", 1)
        count = 0
        while loops == 0 or count < loops:
            count += 1
            self._emit(call, {"type": "play", "url": url})
            if self._wait(call, 1.0, interruptible) or (loops == 0 and count >= 1000):
                return None
        return None

    def _verb_pause(self, call: Call, verb: Node, doc_url: str | None,
                    interruptible: Callable[[], bool] | None = None) -> None:
        seconds = verb.int_attr("length", 1)
        self._emit(call, {"type": "pause", "seconds": seconds})
        self._wait(call, seconds, interruptible)
        return None

    def _verb_redirect(self, call: Call, verb: Node, doc_url: str | None) -> Source:
        return Source(self._resolve(doc_url, verb.text), verb.attr("method", "POST").upper())

    def _verb_hangup(self, call: Call, verb: Node, doc_url: str | None) -> None:
        raise CallGone("completed")

    def _verb_reject(self, call: Call, verb: Node, doc_url: str | None) -> None:
        if call.answered:
            raise CallGone("completed")
        reason = verb.attr("reason", "rejected")
        self._emit(call, {"type": "rejected", "reason": reason})
        raise CallGone("busy")

    def _verb_leave(self, call: Call, member: QueueMember | None) -> None:
        if member is None:
            raise ApplicationFailure("<Leave> outside of a queue wait document")
        raise _LeaveQueue()

    # ---- Gather ----------------------------------------------------------------------------------------------

    def _verb_gather(self, call: Call, verb: Node, doc_url: str | None) -> Source | None:
        kinds = set(verb.list_attr("input") or ["dtmf"])
        finish_keys = verb.attr("finishOnKey", "#") or ""
        num_digits = verb.int_attr("numDigits", 0)
        timeout = verb.int_attr("timeout", 5)
        speech_timeout = verb.attr("speechTimeout")
        if "speech" in kinds and speech_timeout not in (None, "auto"):
            timeout = int(speech_timeout)
        barge_in = verb.bool_attr("bargeIn", True)
        action = self._resolve(doc_url, verb.attr("action")) if verb.attr("action") else doc_url
        method = verb.attr("method", "POST").upper()
        digits = ""
        speech: str | None = None
        finished_on: str | None = None
        done = False
        with self._listening(call, kinds):
            self._emit(call, {"type": "gather", "input": sorted(kinds), "num_digits": num_digits or None})
            has_input = (lambda: bool(call.inputs)) if barge_in else None
            for child in verb.children:
                getattr(self, f"_verb_{child.tag.lower()}")(call, child, doc_url, has_input)
                if call.inputs and barge_in:
                    break
            while not done:
                if not self._wait(call, timeout, lambda: bool(call.inputs)):
                    break
                with self.cond:
                    kind, value = call.inputs.popleft()
                if kind == "dtmf":
                    for key in str(value):
                        if key in finish_keys:
                            finished_on = key
                            done = True
                            break
                        digits += key
                        if num_digits and len(digits) >= num_digits:
                            done = True
                            break
                elif kind == "speech":
                    speech = str(value)
                    done = True
        if digits or speech:
            params: dict[str, str] = {}
            if speech is not None:
                params.update({"SpeechResult": speech, "Confidence": "0.9"})
            else:
                params["Digits"] = digits
                if finished_on:
                    params["FinishedOnKey"] = finished_on
            self._emit(call, {"type": "gathered", **params})
            if action is None:
                raise ApplicationFailure("<Gather> without action in a document that has no URL")
            return Source(action, method, params=params)
        if verb.bool_attr("actionOnEmptyResult", False) and action:
            return Source(action, method, params={"Digits": ""} if "dtmf" in kinds else {})
        return None

    # ---- Record ----------------------------------------------------------------------------------------------

    def _verb_record(self, call: Call, verb: Node, doc_url: str | None) -> Source | None:
        timeout = verb.int_attr("timeout", 5)
        max_length = verb.int_attr("maxLength", 3600) or 3600
        finish_keys = verb.attr("finishOnKey", "1234567890*#") or ""
        action = self._resolve(doc_url, verb.attr("action")) if verb.attr("action") else doc_url
        method = verb.attr("method", "POST").upper()
        texts: list[str] = []
        seconds = 0.0
        digits = "hangup"
        gone: CallGone | None = None
        with self._listening(call, {"record", "dtmf"}):
            if verb.bool_attr("playBeep", True):
                self._emit(call, {"type": "beep"})
            self._emit(call, {"type": "recording", "max_length": max_length})
            try:
                while seconds < max_length:
                    if not self._wait(call, min(timeout or max_length, max_length - seconds),
                                      lambda: bool(call.inputs)):
                        digits = ""
                        break
                    with self.cond:
                        kind, value = call.inputs.popleft()
                    if kind == "dtmf":
                        if any(key in finish_keys for key in str(value)):
                            digits = next(key for key in str(value) if key in finish_keys)
                            break
                    elif kind == "speech":
                        texts.append(str(value))
                        seconds += max(1, math.ceil(len(str(value).split()) * 0.4))
                    elif kind == "record":
                        length, text = value
                        seconds += float(length)
                        if text:
                            texts.append(text)
                        digits = ""
                        break
            except CallGone as exc:
                gone = exc
                with self.cond:  # what was said just before the hangup is on the recording too
                    for kind, value in call.inputs:
                        if kind == "speech":
                            texts.append(str(value))
                            seconds += max(1, math.ceil(len(str(value).split()) * 0.4))
                        elif kind == "record":
                            seconds += float(value[0])
                            texts.extend([value[1]] if value[1] else [])
        duration = min(math.ceil(seconds), max_length)
        if duration <= 0:
            if gone:
                raise gone
            return None  # Twilio keeps no silent recording and goes on with the next verb
        recording = self._new_recording(call, duration, " ".join(texts))
        params = {**self._recording_params(recording), "Digits": digits}
        self._recording_callbacks(call, verb, recording, doc_url)
        if gone is not None:
            if action:
                self._webhook(call, "action", action, method, {**self._call_params(call), **params})
            raise gone
        return Source(action, method, params=params) if action else None

    def _new_recording(self, call: Call, duration: int, text: str) -> Recording:
        recording = Recording(new_sid("RE"), call.sid, duration, text)
        with self.cond:
            self.recordings[recording.sid] = recording
        return recording

    def recording_url(self, recording_sid: str) -> str:
        return f"{self.base_url}/sim/{API_VERSION}/Accounts/{self.account_sid}/Recordings/{recording_sid}"

    def _recording_params(self, recording: Recording) -> dict[str, str]:
        return {"RecordingUrl": self.recording_url(recording.sid), "RecordingSid": recording.sid,
                "RecordingDuration": str(recording.duration)}

    def _recording_callbacks(self, call: Call, verb: Node, recording: Recording, doc_url: str | None) -> None:
        status_url = verb.attr("recordingStatusCallback")
        if status_url:
            url = self._resolve(doc_url, status_url)
            params = {"AccountSid": self.account_sid, "CallSid": call.sid, **self._recording_params(recording),
                      "RecordingStatus": "completed", "RecordingChannels": "1", "RecordingSource": "RecordVerb",
                      "RecordingStartTime": recording.date_created.strftime("%a, %d %b %Y %H:%M:%S +0000")}
            self._spawn("recording-status", self._webhook, call, "recording", url,
                        verb.attr("recordingStatusCallbackMethod", "POST").upper(), params)
        if verb.bool_attr("transcribe", False) and verb.attr("transcribeCallback"):
            url = self._resolve(doc_url, verb.attr("transcribeCallback") or "")
            params = {"AccountSid": self.account_sid, "CallSid": call.sid, "From": call.from_, "To": call.to,
                      "CallStatus": call.status, "ApiVersion": API_VERSION, "Direction": call.direction,
                      **self._recording_params(recording), "TranscriptionSid": new_sid("TR"),
                      "TranscriptionText": recording.text, "TranscriptionStatus": "completed",
                      "TranscriptionType": "fast",
                      "TranscriptionUrl": f"{self.base_url}/sim/{API_VERSION}/Accounts/{self.account_sid}/"
                                          f"Transcriptions/{recording.sid}"}
            self._spawn("transcription", self._webhook, call, "transcription", url, "POST", params)

    # ---- Call recordings (REST: start, pause, resume, stop) ----------------------------------------------------

    def start_call_recording(self, call_sid: str, *, status_callback: str | None = None,
                             status_callback_method: str = "POST",
                             status_callback_events: list[str] | None = None) -> Recording:
        """Start recording a live call (both sides); Twilio refuses a call that is not in progress (21220)."""
        with self.cond:
            call = self.calls.get(call_sid)
            if call is None:
                raise CarrierRestError(404, 20404, f"Call {call_sid} was not found")
            if not call.answered or call.ended:
                raise CarrierRestError(400, 21220, "Requested resource is not eligible for recording")
            recording = Recording(new_sid("RE"), call.sid, 0, "", status="in-progress",
                                  source="StartCallRecordingAPI", started=time.monotonic(),
                                  status_callback=status_callback, status_callback_method=status_callback_method,
                                  status_callback_events=tuple(status_callback_events or ("completed",)))
            self.recordings[recording.sid] = recording
        self._spawn("recording-status", self._recording_status, call, recording, "in-progress")
        return recording

    def call_recording(self, call_sid: str, recording_sid: str) -> Recording:
        """A recording of a call; `Twilio.CURRENT` names the one running now."""
        with self.cond:
            if recording_sid == "Twilio.CURRENT":
                running = [r for r in self.recordings.values()
                           if r.call_sid == call_sid and r.status in ("in-progress", "paused")]
                found = running[-1] if running else None
            else:
                found = self.recordings.get(recording_sid)
        if found is None or found.call_sid != call_sid:
            raise CarrierRestError(404, 20404, f"Recording {recording_sid} of call {call_sid} was not found")
        return found

    def update_call_recording(self, call_sid: str, recording_sid: str, status: str) -> Recording:
        """Pause (`paused`), resume (`in-progress`) or stop (`stopped`) a running recording."""
        if status not in ("paused", "in-progress", "stopped"):
            raise CarrierRestError(400, 21600, f"Status must be paused, in-progress or stopped, not {status!r}")
        recording = self.call_recording(call_sid, recording_sid)
        with self.cond:
            if recording.status not in ("in-progress", "paused"):
                raise CarrierRestError(400, 21220, f"Recording {recording.sid} is {recording.status}")
            now = time.monotonic()
            if status == "paused" and recording.status == "in-progress":
                recording.paused_since = now
            elif status != "paused" and recording.paused_since is not None:
                recording.paused_total += now - recording.paused_since
                recording.paused_since = None
            recording.status = status
            recording.date_updated = utcnow()
            call = self.calls.get(call_sid)
            snapshot = Recording(**vars(recording))  # what this answer says, before the completion below
        if status == "stopped" and call is not None:
            self._complete_recording(call, recording, notify=False)
            self._spawn("recording-status", self._recording_status, call, recording, "completed")
        return snapshot

    def _complete_recording(self, call: Call, recording: Recording, notify: bool = True) -> None:
        """A running recording ends (stopped, or its call ended): its length without the pauses, then the
        `completed` callback."""
        with self.cond:
            if recording.status not in ("in-progress", "paused", "stopped") or recording.started is None:
                return
            now = time.monotonic()
            paused = recording.paused_total + (now - recording.paused_since if recording.paused_since else 0.0)
            recording.duration = max(0, int((now - recording.started - paused) * self.speed))
            recording.paused_since = None
            recording.status = "completed"
            recording.date_updated = utcnow()
        if notify:
            self._recording_status(call, recording, "completed")

    def _recording_status(self, call: Call, recording: Recording, event: str) -> None:
        """A recording status callback, for the events asked (duplicated like call progress callbacks)."""
        if not recording.status_callback or event not in recording.status_callback_events:
            return
        params = {"AccountSid": self.account_sid, "CallSid": call.sid, "RecordingSid": recording.sid,
                  "RecordingUrl": self.recording_url(recording.sid), "RecordingStatus": event,
                  "RecordingDuration": str(recording.duration) if event == "completed" else None,
                  "RecordingChannels": "1", "RecordingSource": recording.source, "RecordingTrack": "both",
                  "RecordingStartTime": _rfc2822(recording.date_created)}
        for _ in range(1 + max(0, self.faults.duplicate_status_callbacks)):
            self._webhook(call, "recording", recording.status_callback, recording.status_callback_method, params)

    def _end_call_recordings(self, call: Call) -> None:
        with self.cond:
            running = [r for r in self.recordings.values()
                       if r.call_sid == call.sid and r.status in ("in-progress", "paused")]
        for recording in running:
            self._complete_recording(call, recording)

    # ---- Dial ------------------------------------------------------------------------------------------------

    def _verb_dial(self, call: Call, verb: Node, doc_url: str | None) -> Source | None:
        nouns = verb.children or [Node("Number", text=verb.text)]
        action = self._resolve(doc_url, verb.attr("action")) if verb.attr("action") else None
        method = verb.attr("method", "POST").upper()
        timeout = verb.int_attr("timeout", 30)
        kind = nouns[0].tag
        if kind == "Conference":
            result = self._dial_conference(call, verb, nouns[0], doc_url)
        elif kind == "Queue":
            result = self._dial_queue(call, verb, nouns[0], doc_url, timeout)
        else:
            result = self._dial_legs(call, verb, nouns, doc_url, timeout)
        record = verb.attr("record", "do-not-record")
        if record not in ("do-not-record", "false") and result.get("DialCallStatus") == "completed":
            recording = self._new_recording(call, int(result["DialCallDuration"]), "")
            result.update(self._recording_params(recording))
        if action:
            return Source(action, method, params=result)
        return None

    def _dial_legs(self, call: Call, verb: Node, nouns: list[Node], doc_url: str | None,
                   timeout: int) -> dict[str, str]:
        caller_id = verb.attr("callerId")
        children: list[Call] = []
        for noun in nouns:
            if noun.tag == "Client":
                identity = noun.text or next((c.text for c in noun.children if c.tag == "Identity"), "")
                to = f"client:{identity}"
                from_ = caller_id or call.from_
            else:
                to = noun.text
                from_ = caller_id or (call.to if call.direction == "inbound" else call.from_)
            child = Call(self, from_=from_, to=to, direction="outbound-dial", parent=call)
            child.custom_params = {c.attrs.get("name", ""): c.attrs.get("value", "")
                                   for c in noun.children if c.tag == "Parameter"}
            child.status_callback = self._resolve(doc_url, noun.attr("statusCallback")) \
                if noun.attr("statusCallback") else None
            child.status_callback_method = noun.attr("statusCallbackMethod", "POST").upper()
            child.status_callback_events = set(noun.list_attr("statusCallbackEvent") or ["completed"])
            whisper = Source(self._resolve(doc_url, noun.attr("url") or ""), noun.attr("method", "POST").upper()) \
                if noun.attr("url") else None
            self._register(child)
            children.append(child)
            self._start(child, self._run_dial_leg, timeout, whisper)
        self._emit(call, {"type": "dialing", "to": [c.to for c in children]})
        connected: Call | None = None
        time_limit = verb.int_attr("timeLimit", 14400)
        hangup_on_star = verb.bool_attr("hangupOnStar", False)
        try:
            self._wait(call, None, lambda: any(c.bridge_ready and not c.ended for c in children)
                       or all(c.ended for c in children))
            with self.cond:
                connected = next((c for c in children if c.bridge_ready and not c.ended), None)
                for other in children:
                    if other is not connected and not other.ended:
                        other.pending = Pending("cancel")
                if connected is not None:
                    call.peer = connected
                    connected.peer = call
                    call.bridge_ready = True
                self._wake(call, *children)
            if connected is not None:
                self._emit(call, {"type": "bridged", "with": connected.sid})
                kinds = {"dtmf"} if hangup_on_star else set()
                with self._listening(call, kinds):
                    started = time.monotonic()
                    while True:
                        held = self._wait(call, time_limit - (time.monotonic() - started) * self.speed,
                                          lambda: connected.ended or bool(call.inputs))
                        if not held or connected.ended:
                            break
                        with self.cond:
                            _kind, value = call.inputs.popleft()
                        if "*" in str(value):
                            break
        finally:
            with self.cond:
                call.bridge_ready = False
                call.peer = None
                for child in children:
                    if not child.ended and (child.pending is None or child.pending.kind == "redirect"):
                        child.pending = Pending("hangup" if child.answered else "cancel")
                self._wake(call, *children)
        self._wait_ended(children)
        if connected is not None:
            self._emit(call, {"type": "unbridged", "with": connected.sid})
            return {"DialCallStatus": "completed", "DialCallSid": connected.sid,
                    "DialCallDuration": str(connected.duration or 0), "DialBridged": "true"}
        statuses = [c.status for c in children]
        status = next((s for s in ("busy", "failed", "no-answer", "canceled") if s in statuses), "no-answer")
        return {"DialCallStatus": status, "DialCallSid": children[0].sid if children else "",
                "DialCallDuration": "0"}

    def _wait_ended(self, calls: list[Call], seconds: float = 5.0) -> None:
        deadline = time.monotonic() + seconds
        with self.cond:
            while not all(c.ended for c in calls) and time.monotonic() < deadline:
                self.cond.wait(0.2)

    def _run_dial_leg(self, child: Call, timeout: int, whisper: Source | None) -> str:
        outcome = self._ring(child, timeout)
        if outcome != "answered":
            return outcome
        if whisper is not None:
            try:
                self._execute_nested(child, whisper, None)
            except ApplicationFailure:
                return "completed"
        with self.cond:
            child.bridge_ready = True
            self._wake(child)
        self._wait(child, None)
        return "completed"

    def _execute_nested(self, call: Call, source: Source, allowed: frozenset[str] | None,
                        member: QueueMember | None = None) -> None:
        """Run a side document (whisper, wait, hold music) to its end; Redirect and Gather actions stay inside."""
        next_source: Source | None = source
        while next_source is not None:
            document, url = self._load(call, next_source, allowed)
            next_source = self._run_verbs(call, document.children, url, False, in_queue=member)

    # ---- Queue -----------------------------------------------------------------------------------------------

    def _queue(self, name: str) -> CallQueue:
        with self.cond:
            queue = self.queues.get(name)
            if queue is None:
                queue = self.queues[name] = CallQueue(new_sid("QU"), name)
            return queue

    def _queue_params(self, queue: CallQueue, member: QueueMember) -> dict[str, str]:
        with self.cond:
            return {"QueueSid": queue.sid, "QueuePosition": str(queue.position(member)),
                    "QueueTime": str(int((time.monotonic() - member.enqueued_at) * self.speed)),
                    "AvgQueueTime": str(queue.average_wait()), "CurrentQueueSize": str(len(queue.members))}

    def _leave_queue(self, member: QueueMember) -> None:
        with self.cond:
            for queue in self.queues.values():
                if member in queue.members:
                    queue.members.remove(member)
                    queue.waited.append((time.monotonic() - member.enqueued_at) * self.speed)
            if member.call.queue_member is member:
                member.call.queue_member = None
            self.notify_all()

    def _verb_enqueue(self, call: Call, verb: Node, doc_url: str | None) -> Source | None:
        queue = self._queue(verb.text)
        member = QueueMember(call)
        wait_url = self._resolve(doc_url, verb.attr("waitUrl") or "") if verb.attr("waitUrl") else None
        wait_method = verb.attr("waitUrlMethod", "POST").upper()
        action = self._resolve(doc_url, verb.attr("action")) if verb.attr("action") else None
        method = verb.attr("method", "POST").upper()
        with self.cond:
            queue.members.append(member)
            call.queue_member = member
            self.notify_all()
        self._emit(call, {"type": "enqueued", "queue": queue.name})

        def result_params(result: str) -> dict[str, str]:
            return {"QueueResult": result, "QueueSid": queue.sid,
                    "QueueTime": str(int((time.monotonic() - member.enqueued_at) * self.speed))}

        result = "leave"
        try:
            while member.dequeued_by is None:
                try:
                    with self._breaker(call, lambda: member.dequeued_by is not None):
                        if wait_url:
                            params = self._queue_params(queue, member)
                            self._execute_nested(call, Source(wait_url, wait_method, params=params),
                                                 twiml.ENQUEUE_WAIT_VERBS, member)
                        else:
                            self._emit(call, {"type": "play", "url": DEFAULT_QUEUE_MUSIC})
                            self._wait(call, None)
                except Breakout:
                    continue
            result = "bridged"
            self._bridge_dequeued(call, member)
        except _LeaveQueue:
            result = "leave"
        except Redirected:
            self._leave_queue(member)
            if action:
                self._webhook(call, "action", action, method, {**self._call_params(call),
                                                                **result_params("redirected")})
            raise
        except CallGone:
            self._leave_queue(member)
            if action and not call.dropped:
                self._webhook(call, "action", action, method, {
                    **self._call_params(call), **result_params("bridged" if member.bridge_ready else "hangup")})
            raise
        finally:
            self._leave_queue(member)
        self._emit(call, {"type": "dequeued", "queue": queue.name, "result": result})
        if action:
            return Source(action, method, params=result_params(result))
        return None

    def _bridge_dequeued(self, call: Call, member: QueueMember) -> None:
        """The queued caller's side of <Dial><Queue>: announce (Queue url), then talk until one side leaves."""
        dequeuer = member.dequeued_by
        assert dequeuer is not None
        self._leave_queue(member)
        if member.announce is not None:
            self._execute_nested(call, member.announce, twiml.CONFERENCE_WAIT_VERBS)
        with self.cond:
            call.peer = dequeuer
            dequeuer.peer = call
            call.bridge_ready = True
            dequeuer.bridge_ready = True
            member.bridge_ready = True
            self.notify_all()
        self._emit(call, {"type": "bridged", "with": dequeuer.sid})
        try:
            self._wait(call, None, lambda: dequeuer.ended or dequeuer.peer is not call)
        finally:
            with self.cond:
                call.peer = None
                call.bridge_ready = False
                self.notify_all()
        self._emit(call, {"type": "unbridged", "with": dequeuer.sid})

    def _dial_queue(self, call: Call, verb: Node, noun: Node, doc_url: str | None, timeout: int) -> dict[str, str]:
        queue = self._queue(noun.text)
        member: QueueMember | None = None

        def take() -> bool:
            nonlocal member
            waiting = [m for m in queue.members if m.dequeued_by is None and not m.call.ended]
            if waiting:
                member = waiting[0]
                member.dequeued_by = call
                if noun.attr("url"):
                    member.announce = Source(
                        self._resolve(doc_url, noun.attr("url") or ""), noun.attr("method", "POST").upper(),
                        params={"QueueSid": queue.sid, "DequeingCallSid": call.sid})
                return True
            return False

        if not self._wait(call, timeout, take) or member is None:
            return {"DialCallStatus": "no-answer", "DialCallDuration": "0", "QueueSid": queue.sid}
        peer = member.call
        started = time.monotonic()
        try:
            self._wait(call, None, lambda: member.bridge_ready or peer.ended)
            if member.bridge_ready and not peer.ended:
                self._emit(call, {"type": "bridged", "with": peer.sid})
                started = time.monotonic()
                self._wait(call, None, lambda: peer.ended or peer.peer is not call)
        finally:
            with self.cond:
                call.peer = None
                call.bridge_ready = False
                self.notify_all()
        duration = int((time.monotonic() - started) * self.speed)
        return {"DialCallStatus": "completed", "DialCallSid": peer.sid, "DialCallDuration": str(duration),
                "QueueSid": queue.sid}

    # ---- Conference ------------------------------------------------------------------------------------------

    def conference_by_name(self, name: str, create: bool = False) -> Conference | None:
        """The live conference with this friendly name (a completed one is never reused)."""
        with self.cond:
            for conference in self.conferences.values():
                if conference.friendly_name == name and conference.status != "completed":
                    return conference
            if not create:
                return None
            conference = Conference(new_sid("CF"), self.account_sid, name)
            self.conferences[conference.sid] = conference
            return conference

    def _dial_conference(self, call: Call, verb: Node, noun: Node, doc_url: str | None) -> dict[str, str]:
        conference = self.conference_by_name(noun.text, create=True)
        assert conference is not None
        wait_url = noun.attr("waitUrl")
        participant = Participant(
            call=call, conference=conference, label=noun.attr("participantLabel"),
            muted=noun.bool_attr("muted", False), beep=noun.attr("beep", "true") or "true",
            start_conference_on_enter=noun.bool_attr("startConferenceOnEnter", True),
            end_conference_on_exit=noun.bool_attr("endConferenceOnExit", False),
            wait_url=self._resolve(doc_url, wait_url) if wait_url else ("" if wait_url == "" else None),
            wait_method=noun.attr("waitMethod", "POST").upper(),
            coaching=bool(noun.attr("coach")), call_sid_to_coach=noun.attr("coach"),
        )
        if noun.attr("statusCallback"):
            self._configure_conference_callback(
                conference, self._resolve(doc_url, noun.attr("statusCallback") or ""),
                noun.attr("statusCallbackMethod", "POST") or "POST", noun.list_attr("statusCallbackEvent"))
        started = time.monotonic()
        self._in_conference(call, participant)
        return {"DialCallStatus": "completed", "DialCallDuration": str(int((time.monotonic() - started)
                                                                             * self.speed)),
                "ConferenceSid": conference.sid}

    def _configure_conference_callback(self, conference: Conference, url: str, method: str,
                                       events: list[str]) -> None:
        with self.cond:
            if conference.status_callback is None:
                conference.status_callback = url
                conference.status_callback_method = method.upper()
                conference.status_callback_events = set(events or ["start", "end"])

    def _in_conference(self, call: Call, participant: Participant) -> None:
        """Join, stay (waiting music, hold music, talk) until kicked, ended, redirected or hung up."""
        conference = participant.conference
        with self.cond:
            if len(conference.active()) >= conference.max_participants:
                raise ApplicationFailure(f"conference {conference.friendly_name} is full")
            conference.participants.append(participant)
            call.participant = participant
            conference.date_updated = utcnow()
            start = participant.start_conference_on_enter and conference.status == "init"
            if start:
                conference.status = "in-progress"
            self._wake_conference(conference)
        self._conference_event(conference, "participant-join", participant)
        if start:
            self._conference_event(conference, "conference-start", participant)
        self._emit(call, {"type": "conference", "event": "joined", "name": conference.friendly_name,
                          "conference_sid": conference.sid})
        redirected: Redirected | None = None
        try:
            while not participant.left:
                if conference.status == "init":
                    self._music(call, participant.wait_url, participant.wait_method,
                                lambda: participant.left or conference.status != "init", DEFAULT_HOLD_MUSIC)
                elif participant.hold:
                    self._music(call, participant.hold_url, participant.hold_method,
                                lambda: participant.left or not participant.hold, DEFAULT_HOLD_MUSIC)
                else:
                    self._wait(call, None, lambda: participant.left or participant.hold
                               or conference.status == "init")
        except Breakout:
            pass
        except Redirected as redirect:
            redirected = redirect  # the far end hears the leg leave before the new instructions run
        finally:
            if not participant.left:
                self._leave_conference(participant, "left")
        self._emit(call, {"type": "conference", "event": "left", "name": conference.friendly_name,
                          "conference_sid": conference.sid})
        if redirected is not None:
            raise redirected

    def _music(self, call: Call, url: str | None, method: str, stop: Callable[[], bool], default: str) -> None:
        """Wait or hold music until `stop()`: an audio URL, a TwiML document looped, or silence for ''."""
        try:
            with self._breaker(call, stop):
                if url is None:
                    self._emit(call, {"type": "play", "url": default})
                    self._wait(call, None)
                elif url == "":
                    self._wait(call, None)
                elif urlsplit(url).path.lower().endswith(AUDIO_SUFFIXES):
                    self._emit(call, {"type": "play", "url": url})
                    self._wait(call, None)
                else:
                    while True:
                        try:
                            self._execute_nested(call, Source(url, method), twiml.CONFERENCE_WAIT_VERBS)
                        except ApplicationFailure:
                            self._wait(call, None)
                        self._wait(call, 0.5)
        except Breakout:
            return

    def _leave_conference(self, participant: Participant, how: str, ending_call: str | None = None) -> None:
        """Take a participant out; end the conference when it empties or an endConferenceOnExit one leaves."""
        conference = participant.conference
        with self.cond:
            if participant.left:
                return
            participant.left = True
            participant.status = "complete"
            participant.date_updated = utcnow()
            if participant.call.participant is participant:
                participant.call.participant = None
            conference.date_updated = utcnow()
            remaining = conference.active()
            end_reason = None
            if conference.status != "completed":
                if participant.end_conference_on_exit:
                    end_reason = ("participant-with-end-conference-on-exit-kicked" if how == "kicked"
                                  else "participant-with-end-conference-on-exit-left")
                elif not remaining:
                    end_reason = "last-participant-kicked" if how == "kicked" else "last-participant-left"
            self._wake_conference(conference)
        self._conference_event(conference, "participant-leave", participant)
        if end_reason:
            self._end_conference(conference, end_reason, participant.call.sid)

    def _end_conference(self, conference: Conference, reason: str, call_sid: str | None) -> None:
        with self.cond:
            if conference.status == "completed":
                return
            conference.status = "completed"
            conference.reason_conference_ended = reason
            conference.call_sid_ending_conference = call_sid
            conference.date_updated = utcnow()
            others = conference.active()
            self._wake_conference(conference)
        for other in others:
            self._leave_conference(other, "ended")
        self._conference_event(conference, "conference-end", None)

    def end_conference(self, conference_sid: str) -> Conference:
        """REST Status=completed: everyone leaves (their calls continue after <Dial>)."""
        conference = self.get_conference(conference_sid)
        if conference.status != "completed":
            self._spawn("end-conference", self._end_conference, conference, "conference-ended-via-api", None)
            with self.cond:
                deadline = time.monotonic() + 2
                while conference.status != "completed" and time.monotonic() < deadline:
                    self.cond.wait(0.05)
        return conference

    def get_conference(self, sid_or_name: str) -> Conference:
        with self.cond:
            conference = self.conferences.get(sid_or_name) or self.conference_by_name(sid_or_name)
        if conference is None:
            raise CarrierRestError(404, 20404, f"The requested resource Conference {sid_or_name} was not found")
        return conference

    def conference(self, name: str) -> Conference | None:
        """The live conference named `name`, else the most recent one by that name (for test assertions)."""
        with self.cond:
            live = self.conference_by_name(name)
            if live is not None:
                return live
            named = [c for c in self.conferences.values() if c.friendly_name == name]
            return named[-1] if named else None

    def add_participant(
        self,
        conference_sid_or_name: str,
        *,
        from_: str,
        to: str,
        label: str | None = None,
        early_media: bool = True,
        beep: str = "true",
        start_conference_on_enter: bool = True,
        end_conference_on_exit: bool = False,
        muted: bool = False,
        hold: bool = False,
        coaching: bool = False,
        call_sid_to_coach: str | None = None,
        status_callback: str | None = None,
        status_callback_method: str = "POST",
        status_callback_events: list[str] | None = None,
        conference_status_callback: str | None = None,
        conference_status_callback_method: str = "POST",
        conference_status_callback_events: list[str] | None = None,
        timeout: int = 60,
        wait_url: str | None = None,
        wait_method: str = "POST",
        defer_start: bool = False,
    ) -> Participant:
        """REST participant create: dial `to` and put the answered leg in the conference (created on demand)."""
        if not to or not from_:
            raise CarrierRestError(400, 21201 if not to else 21213, "To and From are required")
        if coaching and not call_sid_to_coach:
            raise CarrierRestError(400, 21600, "CallSidToCoach is required when Coaching is true")
        with self.cond:
            conference = self.conferences.get(conference_sid_or_name)
            if conference is not None and conference.status == "completed":
                raise CarrierRestError(400, 21600, "Conference is completed")
            if conference is None:
                if conference_sid_or_name.startswith("CF") and len(conference_sid_or_name) == 34:
                    raise CarrierRestError(404, 20404, f"Conference {conference_sid_or_name} was not found")
                conference = self.conference_by_name(conference_sid_or_name, create=True)
            assert conference is not None
            if label and conference.find(label):
                raise CarrierRestError(400, 21600, f"A participant labelled {label!r} is already in the conference")
        if conference_status_callback:
            self._configure_conference_callback(conference, conference_status_callback,
                                                conference_status_callback_method,
                                                conference_status_callback_events or [])
        call = Call(self, from_=from_, to=to, direction="outbound-api")
        call.status_callback = status_callback
        call.status_callback_method = status_callback_method.upper()
        call.status_callback_events = set(status_callback_events or ["completed"])
        participant = Participant(
            call=call, conference=conference, label=label, muted=muted, hold=hold, coaching=coaching,
            call_sid_to_coach=call_sid_to_coach, start_conference_on_enter=start_conference_on_enter,
            end_conference_on_exit=end_conference_on_exit, beep=beep, wait_url=wait_url, wait_method=wait_method,
            status="queued",
        )
        self._register(call)
        self._start(call, self._run_participant_leg, participant, timeout, defer=defer_start)
        return participant

    def _run_participant_leg(self, call: Call, participant: Participant, timeout: int) -> str:
        participant.status = "ringing"
        outcome = self._ring(call, timeout)
        if outcome != "answered":
            participant.status = "failed"
            return outcome
        participant.status = "connected"
        participant.queue_time_ms = call.queue_time
        try:
            self._in_conference(call, participant)
        except Redirected as redirect:
            # A REST redirect takes the leg out of the conference (done above) and, as on Twilio, the leg then
            # runs the new TwiML like any call; when that ends without a successor, the call hangs up.
            return self._execute(call, redirect.source)
        return "completed"

    def update_participant(self, conference_sid: str, call_sid_or_label: str, changes: dict[str, Any]) -> Participant:
        """REST participant update: Hold/HoldUrl/Muted/Coaching/CallSidToCoach/AnnounceUrl/EndConferenceOnExit."""
        conference = self.get_conference(conference_sid)
        events: list[str] = []
        with self.cond:
            participant = conference.find(call_sid_or_label)
            if participant is None:
                raise CarrierRestError(404, 20404, f"Participant {call_sid_or_label} was not found")
            if changes.get("coaching") and not (changes.get("call_sid_to_coach") or participant.call_sid_to_coach):
                raise CarrierRestError(400, 21600, "CallSidToCoach is required when Coaching is true")
            coach_target = changes.get("call_sid_to_coach")
            if coach_target:
                coached = conference.find(coach_target)
                if coached is None:
                    raise CarrierRestError(400, 21600, f"CallSidToCoach {coach_target} is not in the conference")
                if coached.hold:
                    raise CarrierRestError(400, 21600, "The participant to coach is on hold")
            if "hold" in changes and changes["hold"] != participant.hold:
                participant.hold = changes["hold"]
                events.append("participant-hold" if participant.hold else "participant-unhold")
            if "hold_url" in changes:
                participant.hold_url = changes["hold_url"]
            if "hold_method" in changes:
                participant.hold_method = changes["hold_method"]
            if "muted" in changes and changes["muted"] != participant.muted:
                participant.muted = changes["muted"]
                events.append("participant-mute" if participant.muted else "participant-unmute")
            if "coaching" in changes or coach_target:
                participant.coaching = bool(changes.get("coaching", participant.coaching))
                if coach_target:
                    participant.call_sid_to_coach = coach_target
                if not participant.coaching:
                    participant.call_sid_to_coach = None
                events.append("participant-modify")
            if "end_conference_on_exit" in changes:
                participant.end_conference_on_exit = changes["end_conference_on_exit"]
            participant.date_updated = utcnow()
            self._wake_conference(conference)
        for event in events:
            self._spawn("conference-event", self._conference_event, conference, event, participant)
        if "hold" in changes:
            self._emit(participant.call, {"type": "hold", "hold": participant.hold})
        if changes.get("announce_url"):
            self._spawn("announce", self._announce, participant, changes["announce_url"],
                        changes.get("announce_method", "POST"))
        return participant

    def remove_participant(self, conference_sid: str, call_sid_or_label: str) -> None:
        """REST participant delete: the call leaves and continues after its <Dial> (REST legs hang up)."""
        conference = self.get_conference(conference_sid)
        with self.cond:
            participant = conference.find(call_sid_or_label)
            if participant is None:
                raise CarrierRestError(404, 20404, f"Participant {call_sid_or_label} was not found")
        self._spawn("kick", self._leave_conference, participant, "kicked")
        with self.cond:
            deadline = time.monotonic() + 2
            while not participant.left and time.monotonic() < deadline:
                self.cond.wait(0.05)

    def _announce(self, participant: Participant, url: str, method: str) -> None:
        call = participant.call
        if urlsplit(url).path.lower().endswith(AUDIO_SUFFIXES):
            self._emit(call, {"type": "play", "url": url, "announcement": True})
            return
        params = {**self._call_params(call), "ConferenceSid": participant.conference.sid}
        response, fault = self._webhook(call, "announce", url, method.upper(), params)
        try:
            if not 200 <= response.status < 300:
                raise TwimlError(f"HTTP {response.status} from announce URL {url}", 11200)
            document = twiml.parse(response.body, allowed_verbs=twiml.ANNOUNCE_VERBS)
        except TwimlError as exc:
            if not fault:
                self._record_error(call, url, exc.code, exc.message)
            return
        for verb in document.children:
            if verb.tag == "Say":
                self._emit(call, {"type": "say", "text": verb.text, "announcement": True})
            elif verb.tag == "Play":
                self._emit(call, {"type": "play", "url": self._resolve(url, verb.text), "announcement": True})

    def _conference_event(self, conference: Conference, event: str, participant: Participant | None) -> None:
        with self.cond:
            url = conference.status_callback
            wanted = set().union(*(CONFERENCE_EVENT_NAMES.get(e, set()) for e in conference.status_callback_events)) \
                if conference.status_callback_events else set()
            if not url or event not in wanted:
                return
            conference.sequence += 1
            params = {
                "AccountSid": self.account_sid, "ConferenceSid": conference.sid,
                "FriendlyName": conference.friendly_name, "StatusCallbackEvent": event,
                "SequenceNumber": str(conference.sequence), "Timestamp": _rfc2822(utcnow()),
            }
            if participant is not None:
                params.update({
                    "CallSid": participant.call.sid, "Muted": _bool(participant.muted),
                    "Hold": _bool(participant.hold), "Coaching": _bool(participant.coaching),
                    "EndConferenceOnExit": _bool(participant.end_conference_on_exit),
                    "StartConferenceOnEnter": _bool(participant.start_conference_on_enter),
                })
                if participant.label:
                    params["ParticipantLabel"] = participant.label
                if participant.call_sid_to_coach:
                    params["CallSidToCoach"] = participant.call_sid_to_coach
            if event == "conference-end":
                params["ReasonConferenceEnded"] = conference.reason_conference_ended or ""
                if conference.call_sid_ending_conference:
                    params["CallSidEndingConference"] = conference.call_sid_ending_conference
            method = conference.status_callback_method
        self._webhook(participant.call if participant else None, "conference-status", url, method, params)

    # ---- status callbacks and webhooks -----------------------------------------------------------------------

    def _call_params(self, call: Call) -> dict[str, str]:
        params = {
            "AccountSid": self.account_sid, "ApiVersion": API_VERSION, "CallSid": call.sid,
            "CallStatus": call.status, "Direction": call.direction, "From": call.from_, "To": call.to,
            "Caller": call.from_, "Called": call.to,
        }
        if call.parent_call_sid:
            params["ParentCallSid"] = call.parent_call_sid
        if call.forwarded_from:
            params["ForwardedFrom"] = call.forwarded_from
        if call.caller_name:
            params["CallerName"] = call.caller_name
        if call.direction == "inbound" and call.from_.startswith("client:"):
            params["ApplicationSid"] = self.twiml_app_sid or ""
        return params

    def _status(self, call: Call, event: str, extra: dict[str, str] | None = None) -> None:
        """A call-progress callback, through the fault knobs (duplicated, held back for reordering)."""
        if call.dropped or not call.status_callback or event not in call.status_callback_events:
            return
        status = {"initiated": "initiated", "ringing": "ringing", "answered": "in-progress"}.get(event, call.status)
        with self.cond:
            sequence = call.sequence
            call.sequence += 1
        params = {**self._call_params(call), "CallStatus": status, "Timestamp": _rfc2822(utcnow()),
                  "SequenceNumber": str(sequence), "CallbackSource": "call-progress-events", **(extra or {})}
        if event == "completed":
            params["CallDuration"] = str(call.duration or 0)
            params["Duration"] = str(math.ceil((call.duration or 0) / 60))
        copies = 1 + max(0, self.faults.duplicate_status_callbacks)
        for _ in range(copies):
            if self.faults.reorder_status_callbacks:
                with self.cond:
                    call.held_callbacks.append((event, params))
            else:
                self._webhook(call, "status", call.status_callback, call.status_callback_method, params)

    def _flush_callbacks(self, call: Call) -> None:
        with self.cond:
            held = list(reversed(call.held_callbacks))
            call.held_callbacks.clear()
        for _event, params in held:
            assert call.status_callback is not None
            self._webhook(call, "status", call.status_callback, call.status_callback_method, params)

    def _webhook(self, call: Call | None, kind: str, url: str, method: str,
                 params: dict[str, str]) -> tuple[WebhookResponse, bool]:
        """Send one signed request; returns the response and whether a fault knob produced it."""
        params = {k: str(v) for k, v in params.items() if v is not None}
        method = method.upper()
        target = with_query(url, params) if method == "GET" else url
        signature = self.validator.compute_signature(target, params if method == "POST" else {})
        headers = {"X-Twilio-Signature": signature, "User-Agent": "TwilioProxy/1.1",
                   "I-Twilio-Idempotency-Token": str(uuid.uuid4())}
        delay = self.faults.delay_for(url)
        if delay:
            time.sleep(delay)
        started = time.monotonic()
        fault = None
        if self.faults.should_fail(url):
            response = WebhookResponse(500, "", "text/plain", error="injected fault")
            fault = "fail"
        else:
            response = self.transport.send(method, target, params, headers)
        latency = time.monotonic() - started
        record = WebhookRecord(kind, method, url, params, response.status, latency, call.sid if call else None,
                               fault or ("delay" if delay else None), response.body[:2000])
        with self.cond:
            self.webhook_log.append(record)
            self.cond.notify_all()  # observers only: no leg waits on the webhook log
        if kind != "twiml" and fault is None and not 200 <= response.status < 300:
            self._record_error(call, url, 11200, f"{kind} webhook {url} answered HTTP {response.status}"
                                                 f"{': ' + response.error if response.error else ''}")
        return response, fault is not None

    def _record_error(self, call: Call | None, url: str | None, code: int, message: str) -> None:
        log.warning("carrier error %s on %s: %s", code, call.sid if call else "-", message)
        with self.cond:
            self.errors.append(CarrierError(call.sid if call else None, url, code, message))

    # ---- lifecycle -------------------------------------------------------------------------------------------

    def shutdown(self, timeout: float = 5.0) -> None:
        """End every call quietly (no more webhooks) and join the carrier's threads."""
        with self.cond:
            self._closed = True
            for call in self.calls.values():
                if not call.ended:
                    call.dropped = True
                    call.pending = Pending("drop")
            self.notify_all()
            threads = list(self._threads)
        deadline = time.monotonic() + timeout
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))


class _LeaveQueue(Exception):
    """<Leave/> in a wait document."""


def twiml_module_parse(document: str) -> Node:
    return twiml.parse(document)


def _bool(value: bool) -> str:
    return "true" if value else "false"


def _rfc2822(moment: datetime) -> str:
    return moment.strftime("%a, %d %b %Y %H:%M:%S +0000")
