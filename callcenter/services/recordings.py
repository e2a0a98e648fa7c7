"""Call recordings: the policy of a queue or campaign, starting, pausing and resuming, the carrier's status
callbacks, who may play a recording, and notes at moments of it.

Policy (per queue, and per campaign for its calls): `off`; `all` — the caller hears the consent prompt and the call
is recorded from the moment an agent answers; `on_demand` — the caller hears the prompt and the agent may start a
recording from the console. A recording is a Recording resource of the customer's call leg, so pause, resume and
stop are the same carrier request whichever way it was started.

The recording status callbacks are duplicated and out of order in real life: a row is keyed by its RecordingSid,
a status never goes back (completed beats in-progress whatever the order), and duration and URL are set once.

Who may play a recording: the agent who handled the call, a supervisor of that agent's team, admins. A refused
attempt is audited (and committed) before the refusal is raised; every playback is audited.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import redis
from sqlalchemy import ColumnElement, false, func, select, true
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from callcenter.models import Call, Campaign, Queue, Recording, RecordingNote, Role, User, utcnow
from callcenter.models.recordings import RECORDING_POLICIES
from callcenter.services import audit, calls, queues
from callcenter.services.call_control import carrier_action
from callcenter.services.errors import Conflict, Forbidden, NotFound, ValidationFailed
from callcenter.services.interactions import interaction
from callcenter.services.messages import t
from callcenter.services.queues import QueueSnapshot
from callcenter.services.wrapup import caller_sid
from callcenter.telephony.base import Media, Provider, TelephonyError

log = logging.getLogger(__name__)

RUNNING = ("in-progress", "paused")
FINAL = ("completed", "absent", "failed")
# How far along a status is: a callback never moves a recording back.
_RANK = {"in-progress": 0, "paused": 0, "stopped": 1, "completed": 2, "absent": 2, "failed": 2}
ACTIONS = ("start", "pause", "resume", "stop")
MAX_NOTE_LENGTH = 2000


# --- Policy -----------------------------------------------------------------------------------------------------


def policy_of(session: Session, *, queue_id: int | None, campaign_id: int | None = None) -> str:
    """The recording policy for a call: its campaign's when a campaign placed it, else its queue's (from the
    process cache: it is read in the webhook that queues the caller)."""
    owner: QueueSnapshot | Campaign | None = None
    if campaign_id is not None:
        owner = session.get(Campaign, campaign_id)
    elif queue_id is not None:
        owner = queues.queue_snapshot(session, queue_id)
    policy = owner.recording_policy if owner is not None else "off"
    return policy if policy in RECORDING_POLICIES else "off"


def consent_required(policy: str) -> bool:
    """Whether the caller must hear the consent prompt: whenever the call may be recorded."""
    return policy in ("all", "on_demand")


def validate_policy(value: str) -> str:
    """A policy from a form or API field (ValidationFailed otherwise)."""
    if value not in RECORDING_POLICIES:
        raise ValidationFailed(t("Recording policy must be one of: off, all, on_demand"), field="recording_policy")
    return value


def set_queue_policy(session: Session, queue_name: str, policy: str, *, actor_id: int | None = None) -> Queue:
    """Set a queue's recording policy (audited)."""
    queue = session.scalar(select(Queue).where(Queue.name == queue_name))
    if queue is None:
        raise NotFound(t("Queue %(name)s not found", name=queue_name), field="queue")
    before, queue.recording_policy = queue.recording_policy, validate_policy(policy)
    audit.record(session, "queue.recording_policy", actor_id=actor_id, entity=queue, before=before, after=policy)
    session.commit()
    return queue


# --- Starting, pausing, resuming --------------------------------------------------------------------------------


def record_if_policy(session: Session, provider: Provider, *, customer_sid: str, agent_id: int,
                     queue_id: int | None, status_callback: str, call: Call | None = None) -> Recording | None:
    """An agent answered: start recording the customer's leg when the policy is `all`. Never fails the answer:
    a carrier refusal is logged and the call goes on unrecorded. `call` is the leg's record when the caller has
    read it already."""
    if call is None or call.call_sid != customer_sid:
        call = calls.get_call(session, customer_sid)
    policy = policy_of(session, queue_id=queue_id if call is None else (call.queue_id or queue_id),
                       campaign_id=call.campaign_id if call is not None else None)
    if policy != "all":
        return None
    running = session.scalar(select(Recording).where(
        Recording.call_sid == customer_sid, Recording.trigger == "all", Recording.status.in_(RUNNING)))
    if running is not None:  # the leg's recording runs already: the caller came in twice (a redirect and a wait
        return running       # turn both joined them), or a second agent took the call
    try:
        started = provider.start_recording(customer_sid, status_callback=status_callback)
    except TelephonyError as exc:
        log.warning("could not start recording call %s: %s", customer_sid, exc.message)
        return None
    recording = _upsert(session, started.sid, customer_sid, agent_id=agent_id, trigger="all")
    session.commit()
    return recording


@dataclass(frozen=True)
class LiveRecording:
    """What the console shows for a live call: the policy, and the recording running now (if any)."""

    call_sid: str
    policy: str
    recording: Recording | None
    connected: bool = True

    def as_dict(self) -> dict[str, Any]:
        """The console's view; the recording's status is `paused` or `in-progress`, None when not recording."""
        return {"call_sid": self.call_sid, "policy": self.policy, "connected": self.connected,
                "recording_id": self.recording.id if self.recording else None,
                "status": self.recording.status if self.recording else None,
                "can_start": self.policy == "on_demand" and self.recording is None}


def _live_call(session: Session, r: redis.Redis, agent: User, call_sid: str) -> tuple[str, str]:
    """(customer leg CallSid, policy) of the agent's bridged call `call_sid` (entry id or CallSid)."""
    data = interaction(r, call_sid) or interaction(r, caller_sid(call_sid))
    if not data or not data.get("agent_sid"):
        raise Conflict(t("This call is not connected to an agent"), field="call_sid")
    if data.get("agent_id") != agent.id:
        raise Forbidden(t("This is not your call"), field="call_sid")
    if data.get("callback_phone"):
        raise Conflict(t("Calls back to a customer are not recorded"), field="call_sid")
    customer = data["caller_sid"]
    call = calls.get_call(session, customer)
    policy = policy_of(session, queue_id=(call.queue_id if call else None) or data.get("queue_id"),
                       campaign_id=call.campaign_id if call else None)
    return customer, policy


def _running(session: Session, customer_sid: str) -> Recording | None:
    return session.scalar(select(Recording).where(Recording.call_sid == customer_sid,
                                                  Recording.status.in_(RUNNING))
                          .order_by(Recording.id.desc()).limit(1))


def live_state(session: Session, r: redis.Redis, *, agent: User, call_sid: str) -> LiveRecording:
    """The recording state of the agent's live call, for the console: nothing to show for a call not connected yet,
    or not theirs (a transfer target's console shows the consult leg; only the call's agent controls it)."""
    try:
        customer, policy = _live_call(session, r, agent, call_sid)
    except (Conflict, Forbidden):
        return LiveRecording(call_sid, "off", None, connected=False)
    return LiveRecording(call_sid, policy, _running(session, customer))


def control(session: Session, r: redis.Redis, provider: Provider, *, agent: User, call_sid: str, action: str,
            status_callback: str) -> LiveRecording:
    """The agent starts (policy `on_demand`), pauses, resumes or stops the recording of their live call."""
    if action not in ACTIONS:
        raise ValidationFailed(t("Unknown recording action"), field="action")
    customer, policy = _live_call(session, r, agent, call_sid)
    if policy == "off":
        raise Conflict(t("Calls in this queue are not recorded"), field="call_sid")
    running = _running(session, customer)
    if action == "start":
        if policy != "on_demand":
            raise Conflict(t("Recording on demand is not allowed for this call"), field="call_sid")
        if running is not None:
            raise Conflict(t("This call is already being recorded"), field="call_sid")
        with carrier_action(t("Start recording")):
            started = provider.start_recording(customer, status_callback=status_callback)
        running = _upsert(session, started.sid, customer, agent_id=agent.id, trigger="on_demand")
        audit.record(session, "recording.started", actor_id=agent.id, entity=running, call_sid=customer)
        session.commit()
        return LiveRecording(call_sid, policy, running)
    if running is None:
        raise Conflict(t("This call is not being recorded"), field="call_sid")
    wanted = {"pause": "paused", "resume": "in-progress", "stop": "stopped"}[action]
    with carrier_action(t("Recording %(action)s", action=action)):
        provider.set_recording_status(customer, running.recording_sid, wanted)
    if _RANK[running.status] <= _RANK[wanted]:
        running.status = wanted
    audit.record(session, f"recording.{action}d" if action != "stop" else "recording.stopped",
                 actor_id=agent.id, entity=running, call_sid=customer)
    session.commit()
    return LiveRecording(call_sid, policy, running if running.status in RUNNING else None)


# --- Status callbacks -------------------------------------------------------------------------------------------


def _upsert(session: Session, recording_sid: str, call_sid: str, *, agent_id: int | None = None,
            trigger: str | None = None) -> Recording:
    """The row of `recording_sid`, made if missing (a callback may come before the start request returns)."""
    found = session.scalar(select(Recording).where(Recording.recording_sid == recording_sid))
    if found is None:
        call = calls.get_call(session, call_sid)
        try:
            with session.begin_nested():
                found = Recording(recording_sid=recording_sid, call_sid=call_sid, call_id=call.id if call else None,
                                  agent_id=agent_id if agent_id is not None else (call.agent_id if call else None),
                                  trigger=trigger or "all", status="in-progress", started_at=utcnow())
                session.add(found)
        except IntegrityError:
            found = session.scalar(select(Recording).where(Recording.recording_sid == recording_sid))
            assert found is not None
    if agent_id is not None and found.agent_id is None:
        found.agent_id = agent_id
    if trigger is not None and trigger != found.trigger:
        found.trigger = trigger
    return found


def apply_status_callback(session: Session, form: Any, *, now: datetime | None = None) -> Recording | None:
    """Keep what a recording status callback says; a repeat or a late, older status changes nothing; one without
    the recording, the call or a known status is ignored (None)."""
    recording_sid = (form.get("RecordingSid") or "").strip()
    call_sid = (form.get("CallSid") or "").strip()
    status = (form.get("RecordingStatus") or "").strip().lower()
    if not recording_sid or not call_sid or status not in _RANK:
        # Nothing we could keep: acknowledged (the carrier would not send it again anyway) and logged.
        log.warning("ignored recording callback: RecordingSid %r, CallSid %r, status %r", recording_sid[:64],
                    call_sid[:64], status[:40])
        return None
    recording = _upsert(session, recording_sid[:64], call_sid[:64])
    if _RANK[status] > _RANK[recording.status]:
        recording.status = status
    if status in FINAL:
        if recording.completed_at is None:
            recording.completed_at = now or utcnow()
        duration = (form.get("RecordingDuration") or "").strip()
        if recording.duration_seconds is None and duration.isascii() and duration.isdigit():
            recording.duration_seconds = int(duration)
        url = (form.get("RecordingUrl") or "").strip()
        if recording.media_url is None and url:
            recording.media_url = url[:500]
    session.commit()
    return recording


# --- Reading, playing, notes ------------------------------------------------------------------------------------


def visible(viewer: User) -> ColumnElement[bool]:
    """Recordings `viewer` may list and play: their own calls' (agents), their team's agents' (supervisors),
    every one (admins)."""
    if viewer.role == Role.ADMIN.value:
        return true()
    if not viewer.active:
        return false()
    if viewer.role == Role.SUPERVISOR.value and viewer.team_id is not None:
        return Recording.agent_id.in_(select(User.id).where(User.team_id == viewer.team_id))
    return Recording.agent_id == viewer.id


def may_play(session: Session, viewer: User, recording: Recording) -> bool:
    """Whether `viewer` may play `recording` (see `visible`)."""
    return session.scalar(select(func.count()).select_from(Recording)
                          .where(Recording.id == recording.id, visible(viewer))) == 1


def list_visible(session: Session, viewer: User, *, call_sid: str | None = None, page: int = 1,
                 per_page: int = 50) -> tuple[list[Recording], int]:
    """The recordings `viewer` may play, newest first, optionally of one call."""
    conditions = [visible(viewer)]
    if call_sid:
        conditions.append(Recording.call_sid == call_sid)
    total = session.scalar(select(func.count()).select_from(Recording).where(*conditions)) or 0
    rows = session.scalars(select(Recording).where(*conditions).order_by(Recording.id.desc())
                           .limit(per_page).offset((max(page, 1) - 1) * per_page)).all()
    return list(rows), total


def get_allowed(session: Session, viewer: User, recording_id: int, *, purpose: str = "view",
                ip_address: str | None = None) -> Recording:
    """The recording if `viewer` may have it; else the attempt is audited and committed, and Forbidden raised."""
    recording = session.get(Recording, recording_id)
    if recording is None:
        raise NotFound(t("Recording %(id)s not found", id=recording_id))
    if not may_play(session, viewer, recording):
        audit.record(session, "recording.access_refused", actor_id=viewer.id, entity=recording,
                     ip_address=ip_address, purpose=purpose, call_sid=recording.call_sid)
        session.commit()
        raise Forbidden(t("You may not play this recording"))
    return recording


def play(session: Session, provider: Provider, viewer: User, recording_id: int, *,
         ip_address: str | None = None) -> Media:
    """The audio of a recording for an allowed viewer, fetched from the carrier (its URL never leaves us);
    every playback is audited."""
    recording = get_allowed(session, viewer, recording_id, purpose="play", ip_address=ip_address)
    if recording.status != "completed" or not recording.media_url:
        raise Conflict(t("This recording is not ready yet"))
    with carrier_action(t("Fetching the recording")):
        media = provider.recording_media(recording.media_url)
    audit.record(session, "recording.played", actor_id=viewer.id, entity=recording, ip_address=ip_address,
                 call_sid=recording.call_sid)
    session.commit()
    return media


def for_call(session: Session, viewer: User, call: Call) -> list[Recording]:
    """The finished recordings of a call that `viewer` may play (the call page's players)."""
    return list(session.scalars(select(Recording).where(Recording.call_id == call.id, visible(viewer))
                                .order_by(Recording.id)))


def add_note(session: Session, viewer: User, recording_id: int, *, offset_seconds: int, body: str,
             ip_address: str | None = None) -> RecordingNote:
    """A note at `offset_seconds` into a recording the viewer may play."""
    recording = get_allowed(session, viewer, recording_id, purpose="note", ip_address=ip_address)
    body = (body or "").strip()
    if not body:
        raise ValidationFailed(t("A note needs some text"), field="body")
    if len(body) > MAX_NOTE_LENGTH:
        raise ValidationFailed(t("A note is at most %(n)d characters", n=MAX_NOTE_LENGTH), field="body")
    if offset_seconds < 0 or (recording.duration_seconds is not None and offset_seconds > recording.duration_seconds):
        raise ValidationFailed(t("The moment must be within the recording"), field="offset_seconds")
    note = RecordingNote(author_id=viewer.id, offset_seconds=offset_seconds, body=body)
    recording.notes.append(note)
    session.flush()
    audit.record(session, "recording.note_added", actor_id=viewer.id, entity=recording, note_id=note.id)
    session.commit()
    return note
