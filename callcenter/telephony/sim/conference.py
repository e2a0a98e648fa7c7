"""Conferences and call queues of the emulated carrier: plain state, guarded by the carrier's lock."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from callcenter.telephony.sim.engine import Call, Source


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass
class Participant:
    """One call in a conference, with the flags the REST API reads and changes."""

    call: Call
    conference: Conference
    label: str | None = None
    muted: bool = False
    hold: bool = False
    hold_url: str | None = None
    hold_method: str = "GET"
    coaching: bool = False
    call_sid_to_coach: str | None = None
    start_conference_on_enter: bool = True
    end_conference_on_exit: bool = False
    beep: str = "true"
    wait_url: str | None = None
    wait_method: str = "POST"
    status: str = "connected"  # queued, connecting, ringing, connected, complete, failed
    left: bool = False
    date_created: datetime = field(default_factory=utcnow)
    date_updated: datetime = field(default_factory=utcnow)
    queue_time_ms: str | None = None

    @property
    def call_sid(self) -> str:
        return self.call.sid

    def hears(self, speaker: Participant) -> bool:
        """Whether this participant hears `speaker` (hold, mute and coaching rules of Twilio conferences)."""
        if self is speaker or self.left or speaker.left or self.hold or speaker.hold or speaker.muted:
            return False
        if self.conference.status != "in-progress":
            return False
        if speaker.coaching and speaker.call_sid_to_coach:
            return self.call.sid == speaker.call_sid_to_coach
        return True


@dataclass
class Conference:
    """A conference room: `init` until a participant with startConferenceOnEnter joins, then `in-progress`."""

    sid: str
    account_sid: str
    friendly_name: str
    status: str = "init"
    region: str = "us1"
    participants: list[Participant] = field(default_factory=list)
    date_created: datetime = field(default_factory=utcnow)
    date_updated: datetime = field(default_factory=utcnow)
    reason_conference_ended: str | None = None
    call_sid_ending_conference: str | None = None
    status_callback: str | None = None
    status_callback_method: str = "POST"
    status_callback_events: set[str] = field(default_factory=set)
    sequence: int = 0
    max_participants: int = 250

    def active(self) -> list[Participant]:
        return [p for p in self.participants if not p.left]

    def find(self, call_sid_or_label: str) -> Participant | None:
        """The live participant with this call SID or label (Twilio accepts either in the URL)."""
        for participant in self.active():
            if call_sid_or_label in (participant.call.sid, participant.label):
                return participant
        return None


@dataclass
class QueueMember:
    """A caller waiting in an `<Enqueue>` queue."""

    call: Call
    enqueued_at: float = field(default_factory=time.monotonic)
    dequeued_by: Call | None = None
    bridge_ready: bool = False
    announce: Source | None = None


@dataclass
class CallQueue:
    """A named FIFO of waiting callers, created on demand like Twilio's queues."""

    sid: str
    name: str
    members: list[QueueMember] = field(default_factory=list)
    waited: list[float] = field(default_factory=list)

    def position(self, member: QueueMember) -> int:
        return self.members.index(member) + 1 if member in self.members else 0

    def average_wait(self) -> int:
        return int(sum(self.waited) / len(self.waited)) if self.waited else 0
