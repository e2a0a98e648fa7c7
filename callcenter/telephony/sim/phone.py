"""The Python side of the far end, for tests: a caller's phone, an agent's softphone, a callee's phone."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from callcenter.telephony.sim.engine import Call, Carrier

DEFAULT_TIMEOUT = 10.0
EventMatcher = str | Callable[[dict[str, Any]], bool]


class CallTimeout(AssertionError):
    """What the test waited for did not happen; the message shows what the far end did hear."""


class CallHandle:
    """One call as its far end experiences it: hear prompts, press keys, speak, hang up."""

    def __init__(self, carrier: Carrier, call: Call) -> None:
        self.carrier = carrier
        self.call = call

    def __repr__(self) -> str:
        return f"<CallHandle {self.call!r}>"

    @property
    def sid(self) -> str:
        return self.call.sid

    @property
    def status(self) -> str:
        return self.call.status

    @property
    def events(self) -> list[dict[str, Any]]:
        with self.carrier.cond:
            return list(self.call.events)

    @property
    def transcript(self) -> list[str]:
        """What was said (text) and played (URL or digits) to this end, in order."""
        lines = []
        for event in self.events:
            if event["type"] == "say":
                lines.append(event["text"])
            elif event["type"] == "play":
                lines.append(event.get("url") or f"digits:{event.get('digits')}")
        return lines

    @property
    def heard(self) -> list[str]:
        """What other parties said to this end (bridge or conference)."""
        return [e["text"] for e in self.events if e["type"] == "heard"]

    def wait_for(self, match: EventMatcher, timeout: float = DEFAULT_TIMEOUT) -> dict[str, Any]:
        """The first event of this type (or matching the predicate); raises CallTimeout if none comes."""
        predicate = (lambda e: e["type"] == match) if isinstance(match, str) else match
        found: list[dict[str, Any]] = []
        seen_upto = 0  # events are only appended: each check looks at the new ones

        def matched() -> bool:
            nonlocal seen_upto
            events = self.call.events
            for event in events[seen_upto:]:
                if predicate(event):
                    found.append(event)
                    return True
            seen_upto = len(events)
            return False

        if not self.carrier.watch(self.call, matched, time.monotonic() + timeout):
            raise CallTimeout(f"{self.call!r}: no event matching {match!r} within {timeout}s; "
                              f"transcript: {self.transcript}; errors: {self.carrier.errors}")
        return found[0]

    def wait_for_say(self, text: str, timeout: float = DEFAULT_TIMEOUT) -> dict[str, Any]:
        """Wait until something containing `text` is said to this end."""
        return self.wait_for(lambda e: e["type"] == "say" and text.lower() in e["text"].lower(), timeout)

    def wait_for_status(self, *statuses: str, timeout: float = DEFAULT_TIMEOUT) -> str:
        """Wait until the call reaches one of `statuses` (e.g. 'in-progress', 'completed')."""
        if not self.carrier.watch(self.call, lambda: self.call.status in statuses, time.monotonic() + timeout):
            raise CallTimeout(f"{self.call!r} did not reach {statuses} within {timeout}s; "
                              f"transcript: {self.transcript}; errors: {self.carrier.errors}")
        return self.call.status

    def wait_ended(self, timeout: float = DEFAULT_TIMEOUT) -> str:
        """Wait until the call is over; its final status."""
        self.wait_for("ended", timeout)
        return self.call.status

    def _wait_state(self, ready: Callable[[], bool], what: str, timeout: float) -> None:
        if self.carrier.watch(self.call, lambda: ready() or self.call.ended, time.monotonic() + timeout):
            if not ready():
                raise CallTimeout(f"{self.call!r} ended before it was {what}; transcript: {self.transcript}")
            return
        raise CallTimeout(f"{self.call!r} was not {what} within {timeout}s; "
                          f"transcript: {self.transcript}; errors: {self.carrier.errors}")

    def press(self, digits: str, wait: bool = True, timeout: float = DEFAULT_TIMEOUT) -> None:
        """Press keys. With `wait`, first wait until a verb listens for keys or the call is bridged."""
        call = self.call
        if wait:
            self._wait_state(lambda: "dtmf" in call.listening or (call.peer is not None and call.bridge_ready),
                             "listening for keys", timeout)
        self.carrier.send_digits(call.sid, digits)

    def say(self, phrase: str, wait: bool = True, timeout: float = DEFAULT_TIMEOUT) -> None:
        """Speak. With `wait`, first wait until speech is heard: speech Gather, Record, bridge or conference."""
        call = self.call
        if wait:
            self._wait_state(
                lambda: "speech" in call.listening or "record" in call.listening
                or (call.peer is not None and call.bridge_ready)
                or (call.participant is not None and call.participant.conference.status == "in-progress"),
                "listening for speech", timeout)
        self.carrier.speak(call.sid, phrase)

    def record(self, seconds: float = 3, text: str = "", timeout: float = DEFAULT_TIMEOUT) -> None:
        """Leave a message of `seconds` (nominal) into the current <Record>, ending it."""
        call = self.call
        self._wait_state(lambda: "record" in call.listening, "recording", timeout)
        self.carrier.record_audio(call.sid, seconds, text)

    def mute(self, muted: bool = True) -> None:
        self.carrier.set_muted(self.call.sid, muted)

    def answer(self) -> bool:
        """Pick up a ringing call (a softphone or a phone in manual answer mode)."""
        return self.carrier.answer(self.call.sid, "phone")

    def reject(self) -> bool:
        return self.carrier.reject(self.call.sid)

    def hangup(self, wait: bool = True, timeout: float = DEFAULT_TIMEOUT) -> None:
        """Hang up; with `wait`, until the carrier has ended the call."""
        self.carrier.hangup(self.call.sid)
        if wait and not self.call.ended:
            self.wait_ended(timeout)


class ClientEndpoint:
    """A test softphone registered as client:identity: receives rings like the browser SDK's 'incoming'."""

    def __init__(self, carrier: Carrier, identity: str) -> None:
        self.carrier = carrier
        self.identity = identity
        self.incoming: list[CallHandle] = []
        self.canceled: list[str] = []
        self.current: CallHandle | None = None
        carrier.register_client(identity, self)

    def ring(self, call: Call) -> None:
        with self.carrier.cond:
            self.incoming.append(CallHandle(self.carrier, call))
            self.carrier.cond.notify_all()

    def cancel(self, call: Call) -> None:
        with self.carrier.cond:
            self.canceled.append(call.sid)
            self.carrier.cond.notify_all()

    def unregister(self) -> None:
        self.carrier.unregister_client(self.identity, self)

    def wait_for_incoming(self, timeout: float = DEFAULT_TIMEOUT) -> CallHandle:
        """The next ringing call not yet answered or rejected here."""
        deadline = time.monotonic() + timeout
        with self.carrier.cond:
            while True:
                for handle in self.incoming:
                    call = handle.call
                    if not call.ended and not call.answered and call.answered_by_endpoint is None \
                            and call.sid not in self.canceled:
                        self.current = handle
                        return handle
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise CallTimeout(f"client:{self.identity} got no incoming call within {timeout}s")
                self.carrier.cond.wait(remaining)

    def _handle(self) -> CallHandle:
        if self.current is None:
            self.current = self.wait_for_incoming()
        return self.current

    def accept(self, timeout: float = DEFAULT_TIMEOUT) -> CallHandle:
        """Accept the ringing call and wait until it is connected."""
        handle = self._handle()
        if not self.carrier.answer(handle.sid, self):
            raise CallTimeout(f"{handle.call!r} could not be answered (no longer ringing)")
        handle.wait_for("answered", timeout)
        return handle

    def reject(self) -> None:
        handle = self._handle()
        self.carrier.reject(handle.sid)
        self.current = None

    def hangup(self) -> None:
        handle = self._handle()
        handle.hangup()
        self.current = None

    def connect(self, params: dict[str, str] | None = None) -> CallHandle:
        """device.connect({params}): an outgoing call from this client through the TwiML app."""
        call = self.carrier.client_connect(self.identity, dict(params or {}))
        self.current = CallHandle(self.carrier, call)
        return self.current


class PhoneEndpoint:
    """An external number the carrier calls, answering by hand: for tests of outbound and Dial flows."""

    def __init__(self, carrier: Carrier, number: str) -> None:
        self.carrier = carrier
        self.number = number
        carrier.phone(number, answer="manual")

    def wait_for_incoming(self, timeout: float = DEFAULT_TIMEOUT) -> CallHandle:
        """The next call ringing this number."""
        deadline = time.monotonic() + timeout
        with self.carrier.cond:
            while True:
                for call in self.carrier.calls.values():
                    if call.to == self.number and not call.ended and not call.answered \
                            and call.answered_by_endpoint is None \
                            and any(e["type"] == "incoming" for e in call.events):
                        return CallHandle(self.carrier, call)
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise CallTimeout(f"{self.number} got no call within {timeout}s")
                self.carrier.cond.wait(remaining)
