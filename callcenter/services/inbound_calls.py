"""The inbound call from the caller's side: greeted, routed by the IVR, queued, waiting, bridged to an agent.

Each function is one step a voice webhook asks for. They take plain values, keep the call record and its event
log up to date, and use the ACD (services.routing) for everything about queues and agents. The telephony edge
turns their results into TwiML.
"""

from __future__ import annotations

import contextlib
import json
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import redis
from sqlalchemy import select
from sqlalchemy.orm import Session

from callcenter.models import Call, Callback, Queue, Ticket, User, utcnow
from callcenter.services import acd, agent_state, business_hours, calls, ivr_flows, queue_stats, queues, routing
from callcenter.services.errors import Conflict, NotFound
from callcenter.services.events import publish
from callcenter.services.phones import display, try_e164

DEFAULT_HANDLE_SECONDS = 180  # until the queue has handled calls today
HANDLE_TIME_CACHE_SECONDS = 30
VOICEMAIL_TICKET_SLA = timedelta(hours=24)


def conference_name(call_sid: str) -> str:
    """The conference that bridges a caller and agents is named after the interaction (the caller's CallSid)."""
    return f"interaction-{call_sid}"


def agent_identity(agent_id: int) -> str:
    """The softphone identity of an agent (Voice SDK `Device` / `client:` address)."""
    return f"agent-{agent_id}"


def interaction_key(call_sid: str) -> str:
    return f"cc:interaction:{call_sid}"


def interaction(r: redis.Redis, call_sid: str) -> dict[str, Any] | None:
    """A live interaction: {conference_name, caller_sid, agent_sid, agent_id, queue_id, callback_phone}."""
    raw = r.hgetall(interaction_key(call_sid))
    if not raw:
        return None
    data = {k.decode() if isinstance(k, bytes) else k: v.decode() if isinstance(v, bytes) else v
            for k, v in raw.items()}
    for name in ("agent_id", "queue_id"):
        if data.get(name):
            data[name] = int(data[name])
    return data


def set_interaction(r: redis.Redis, call_sid: str, **fields: Any) -> None:
    """Record (or update) fields of a live interaction; kept a day."""
    r.hset(interaction_key(call_sid), mapping={k: str(v) for k, v in fields.items() if v is not None})
    r.expire(interaction_key(call_sid), 24 * 3600)


# --- Greeting and IVR -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Greeting:
    """What to answer a new call with: the number's flow (None: not configured) and whether it is open."""

    call: Call
    definition: dict[str, Any] | None
    state: ivr_flows.GreetingState | None


def start_call(session: Session, *, call_sid: str, from_number: str, to_number: str, status: str | None,
               region: str = "US") -> Greeting:
    """Log the new call (idempotent) and find the IVR flow of the number that was dialled."""
    call = calls.open_call(session, call_sid=call_sid, direction="inbound", from_number=from_number,
                           to_number=to_number, occurred_at=utcnow(), status=status)
    definition = flow_definition(session, to_number, region)
    if definition is None:
        return Greeting(call, None, None)
    return Greeting(call, definition, ivr_flows.greeting_state(session, definition, utcnow()))


def flow_definition(session: Session, to_number: str, region: str = "US") -> dict[str, Any] | None:
    """The active IVR flow of the number that was dialled (from the process cache)."""
    number = try_e164(to_number, region)
    return ivr_flows.active_definition(session, number) if number else None


def record_ivr_step(session: Session, call_sid: str, step: dict[str, Any] | None, attempt: int) -> None:
    """Append a menu choice to the call's IVR path (a retried webhook adds nothing)."""
    call = calls.get_call(session, call_sid)
    if call is None or not step:
        return
    calls.record_event(session, call, "ivr", step,
                       dedupe_key=f"ivr:{call_sid}:{step.get('node')}:{attempt}:{step.get('via')}")
    session.commit()


# --- Queueing ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Queued:
    queue_id: int
    queue_name: str
    position: int | None
    estimated_wait_seconds: int | None


@dataclass(frozen=True)
class QueueClosed:
    queue_name: str
    opening_message: str | None


def queue_caller(session: Session, r: redis.Redis, *, call_sid: str, queue_name: str, priority_boost: int = 0,
                 now: float | None = None) -> Queued | QueueClosed:
    """Put the caller in the queue the IVR chose (closed queues answer with their next opening)."""
    now = time.time() if now is None else now
    queue = queues.queue_named(session, queue_name)
    if queue is None or not queue.active:
        raise NotFound(f"Queue {queue_name!r} is not taking calls", field="queue")
    when = datetime.fromtimestamp(now, UTC)
    if not business_hours.is_open(queue, when):
        return QueueClosed(queue.name, business_hours.opening_message(queue, when))
    call = calls.get_call(session, call_sid)
    if call is None:
        raise NotFound(f"Call {call_sid} is not known", field="CallSid")
    from_e164 = try_e164(call.from_number)
    enqueued = routing.enqueue_call(
        session, r, call_sid=call_sid, queue_id=queue.id, from_number=from_e164, now=now,
        priority_boost=priority_boost,
        payload={"call_sid": call_sid, "ivr_path": calls.ivr_path(session, call), "queue_name": queue.name},
    )
    call.queue_id = queue.id
    if enqueued.decision.contact_ids and len(enqueued.decision.contact_ids) == 1:
        call.contact_id = enqueued.decision.contact_ids[0]
    calls.record_event(session, call, "enqueued",
                       {"queue_id": queue.id, "priority": enqueued.entry.priority,
                        "reasons": list(enqueued.decision.reasons)},
                       dedupe_key=f"enqueued:{call_sid}", occurred_at=when)
    session.commit()
    return Queued(queue.id, queue.name, enqueued.position, estimated_wait(session, r, queue.id, enqueued.position))


def estimated_wait(session: Session, r: redis.Redis, queue_id: int, position: int | None) -> int | None:
    """Position times today's average handle time, shared among the agents working now (None: no estimate)."""
    if position is None:
        return None
    cache = f"cc:queue:{queue_id}:handle"
    cached = r.get(cache)
    if cached is not None:
        handle_seconds, staffed = json.loads(cached)
    else:
        since = utcnow() - timedelta(hours=24)
        talk = session.scalars(
            select(Call).where(Call.queue_id == queue_id, Call.agent_answered_at.is_not(None),
                               Call.ended_at.is_not(None), Call.ended_at >= since)
            .order_by(Call.ended_at.desc()).limit(200)
        ).all()
        durations = [(c.ended_at - c.agent_answered_at).total_seconds() for c in talk]
        handle_seconds = sum(durations) / len(durations) if durations else DEFAULT_HANDLE_SECONDS
        agent_ids = session.scalars(select(User.id).where(User.role == "agent", User.active.is_(True))).all()
        working = (agent_state.AVAILABLE, agent_state.RESERVED, agent_state.ON_CALL, agent_state.WRAP_UP)
        staffed = sum(1 for a in agent_ids if agent_state.get_presence(r, a).state in working)
        r.set(cache, json.dumps([handle_seconds, staffed]), ex=HANDLE_TIME_CACHE_SECONDS)
    return int(position * handle_seconds / max(staffed, 1))


@dataclass(frozen=True)
class WaitStatus:
    """Where a waiting caller stands: still waiting (with position/estimate), or no longer in the queue."""

    waiting: bool
    position: int | None = None
    estimated_wait_seconds: int | None = None
    waited_seconds: float = 0.0
    over_max_wait: bool = False
    queue_id: int | None = None


def wait_status(session: Session, r: redis.Redis, call_sid: str, now: float | None = None) -> WaitStatus:
    now = time.time() if now is None else now
    entry = acd.get_entry(r, call_sid)
    if entry is None:
        return WaitStatus(False)
    queue = queues.queue_snapshot(session, entry.queue_id)
    position = acd.position(r, call_sid)
    waited = now - entry.enqueued_at
    return WaitStatus(
        waiting=True,
        position=position,
        estimated_wait_seconds=estimated_wait(session, r, entry.queue_id, position),
        waited_seconds=waited,
        over_max_wait=bool(queue and entry.status == "waiting" and waited >= queue.max_wait_seconds),
        queue_id=entry.queue_id,
    )


def leave_queue(session: Session, r: redis.Redis, call_sid: str, reason: str, now: float | None = None) -> None:
    """Take a caller out of the queue (max wait reached, went to voicemail)."""
    routing.finish_call(session, r, call_sid, now)
    call = calls.get_call(session, call_sid)
    if call is not None:
        calls.record_event(session, call, "left_queue", {"reason": reason}, dedupe_key=f"left_queue:{call_sid}")
        session.commit()


def request_callback(session: Session, r: redis.Redis, call_sid: str, now: float | None = None) -> Callback:
    """The waiting caller pressed *: a callback keeps their place in line (one open per number and queue)."""
    now = time.time() if now is None else now
    entry = acd.get_entry(r, call_sid)
    call = calls.get_call(session, call_sid)
    if entry is None or call is None:
        raise Conflict("The caller is no longer waiting", field="CallSid")
    phone = try_e164(call.from_number)
    if phone is None:
        raise Conflict("We cannot call back a withheld number", field="From")
    open_one = session.scalar(select(Callback).where(
        Callback.phone_e164 == phone, Callback.queue_id == entry.queue_id,
        Callback.status.in_(("scheduled", "offered", "dialing"))))
    if open_one is not None:
        leave_queue(session, r, call_sid, "callback already booked", now)
        return open_one
    callback = Callback(
        contact_id=call.contact_id, phone_e164=phone, queue_id=entry.queue_id, call_id=call.id,
        requested_at=datetime.fromtimestamp(entry.enqueued_at, UTC), due_at=datetime.fromtimestamp(now, UTC),
        status="offered", notes="Requested while waiting in queue",
    )
    session.add(callback)
    session.flush()
    routing.request_callback(session, r, call_sid, phone, now, payload={
        "call_sid": call_sid, "ivr_path": calls.ivr_path(session, call), "queue_name": entry.payload.get("queue_name"),
        "callback_id": callback.id})
    calls.record_event(session, call, "callback_requested", {"queue_id": entry.queue_id},
                       dedupe_key=f"callback_requested:{call_sid}")
    session.commit()
    return callback


def schedule_callback_for_opening(session: Session, *, call_sid: str, now: datetime | None = None) -> Callback | None:
    """A caller on a closed line asked to be called back: book it for the next opening of the line's queue."""
    call = calls.get_call(session, call_sid)
    phone = try_e164(call.from_number) if call is not None else None
    if call is None or phone is None:
        return None
    now = now or utcnow()
    definition = flow_definition(session, call.to_number) or {}
    name = ivr_flows.hours_queue_name(definition)
    queue = queues.queue_named(session, name) if name else None
    existing = session.scalar(select(Callback).where(
        Callback.phone_e164 == phone, Callback.queue_id == (queue.id if queue else None),
        Callback.status.in_(("scheduled", "offered", "dialing"))))
    if existing is not None:
        return existing
    due = (business_hours.next_opening(queue, now) if queue else None) or now
    callback = Callback(contact_id=call.contact_id, phone_e164=phone, queue_id=queue.id if queue else None,
                        call_id=call.id, requested_at=now, due_at=due, status="scheduled",
                        notes="Requested after hours")
    session.add(callback)
    calls.record_event(session, call, "callback_requested", {"after_hours": True},
                       dedupe_key=f"callback_requested:{call_sid}")
    session.commit()
    return callback


CALLBACK_MAX_ATTEMPTS = 3
CALLBACK_RETRY_DELAY = timedelta(minutes=15)


def release_due_callbacks(session: Session, r: redis.Redis, now: float | None = None, limit: int = 100) -> list[int]:
    """Scheduled callbacks whose time has come join their queue, ordered by when they fell due.

    Booked from a wrap-up or after hours; each is offered to an agent like a caller, and answering it dials the
    customer in. A callback without a queue (e.g. after an outbound call) waits for a person to assign one.
    """
    now = time.time() if now is None else now
    due = session.scalars(
        select(Callback).where(Callback.status == "scheduled", Callback.queue_id.is_not(None),
                               Callback.due_at <= datetime.fromtimestamp(now, UTC))
        .order_by(Callback.due_at, Callback.id).limit(limit)
    ).all()
    released = []
    for callback in due:
        try:
            routing.enqueue_callback(
                session, r, entry_id=f"cbk-{callback.id}-{callback.attempts}", queue_id=callback.queue_id,
                phone=callback.phone_e164, priority=0, enqueued_at=min(callback.due_at.timestamp(), now),
                contact_id=callback.contact_id, now=now,
                payload={"callback_id": callback.id, "notes": callback.notes[:500]},
            )
        except Conflict:
            continue  # this number already has a callback in that queue; this one waits its turn
        callback.status = "offered"
        released.append(callback.id)
    session.commit()
    return released


def voicemail_received(session: Session, *, call_sid: str, recording_url: str | None, recording_sid: str | None,
                       duration_seconds: int | None, transcription: str | None = None) -> Ticket | None:
    """A message was left: keep the recording on the call and open a ticket for it (once per call)."""
    call = calls.get_call(session, call_sid)
    if call is None:
        raise NotFound(f"Call {call_sid} is not known", field="CallSid")
    if not recording_url:
        return None
    call.recording_url, call.recording_sid = recording_url, recording_sid
    existing = session.scalar(select(Ticket).where(Ticket.call_id == call.id))
    if existing is not None:
        session.commit()
        return existing
    caller = try_e164(call.from_number)
    ticket = Ticket(
        subject=f"Voicemail from {display(caller) if caller else call.from_number or 'an unknown caller'}",
        description=(transcription or "") + f"\n\nRecording ({duration_seconds or 0} s): {recording_url}",
        priority="normal", contact_id=call.contact_id, call_id=call.id,
        due_at=utcnow() + VOICEMAIL_TICKET_SLA,
    )
    session.add(ticket)
    calls.record_event(session, call, "voicemail", {"recording_sid": recording_sid, "duration": duration_seconds},
                       dedupe_key=f"voicemail:{call_sid}")
    session.commit()
    return ticket


# --- The agent's side -------------------------------------------------------------------------------------------


def ringing_agent(r: redis.Redis, call_sid: str, agent_id: int, agent_leg_sid: str) -> None:
    """Remember which softphone leg rings for an offer, so it can be cancelled when the offer ends."""
    set_interaction(r, call_sid, conference_name=conference_name(_caller_sid(call_sid)),
                     caller_sid=_caller_sid(call_sid), agent_id=agent_id, ringing_sid=agent_leg_sid)


def _caller_sid(entry_id: str) -> str:
    """The caller's CallSid behind an ACD entry ("cb-<CallSid>" for a queue callback; a booked callback "cbk-..."
    has no caller leg until it is dialed, and is named after itself)."""
    return entry_id[3:] if entry_id.startswith("cb-") else entry_id


def agent_answered(session: Session, r: redis.Redis, *, agent_id: int, entry_id: str, agent_leg_sid: str,
                   now: float | None = None) -> dict[str, Any]:
    """The agent picked up: they get the call (Conflict when the offer ended meanwhile); returns the interaction."""
    now = time.time() if now is None else now
    entry = routing.accept_offer(session, r, agent_id, entry_id, now)
    caller_sid = _caller_sid(entry_id)
    set_interaction(r, entry_id, conference_name=conference_name(caller_sid), caller_sid=caller_sid,
                     agent_sid=agent_leg_sid, agent_id=agent_id, queue_id=entry.queue_id,
                     callback_phone=entry.payload.get("phone") if entry.callback else None)
    call = calls.get_call(session, caller_sid)
    if call is not None:
        call.agent_id = agent_id
        calls.record_event(session, call, "agent_answered", {"agent_id": agent_id, "agent_sid": agent_leg_sid},
                           dedupe_key=f"agent_answered:{entry_id}")
    if entry.callback and entry.payload.get("callback_id"):
        callback = session.get(Callback, int(entry.payload["callback_id"]))
        if callback is not None:
            callback.status, callback.agent_id = "dialing", agent_id
            callback.attempts += 1
            set_interaction(r, entry_id, callback_id=callback.id)
    queue_stats.publish_today_later(session, entry.queue_id)
    session.commit()
    data = interaction(r, entry_id) or {}
    publish("agent.call", agent_id=agent_id, call_sid=entry_id, status="connected", **{
        k: v for k, v in data.items() if k in ("conference_name", "caller_sid", "agent_sid")})
    return data


def leg_key(call_sid: str) -> str:
    return f"cc:leg:{call_sid}"


def callback_dialed(r: redis.Redis, entry_id: str, customer_sid: str) -> None:
    """The customer's leg of a callback: when it ends, the callback's interaction ends."""
    set_interaction(r, entry_id, caller_sid=customer_sid)
    r.set(leg_key(customer_sid), entry_id, ex=24 * 3600)


def call_ended(session: Session, r: redis.Redis, call_sid: str, now: float | None = None) -> None:
    """The customer's leg ended: out of the queue, or the agent goes to wrap-up (a callback is then done)."""
    entry_id = r.get(leg_key(call_sid))
    if entry_id is not None:
        entry_id = entry_id.decode() if isinstance(entry_id, bytes) else entry_id
        _close_callback(session, r, entry_id, call_sid)
        call_sid = entry_id
    r.zrem(ORPHANS, call_sid)  # nobody needs to rejoin a call that has ended
    finished = routing.finish_call(session, r, call_sid, now)
    if finished is not None:
        queue_stats.publish_today_later(session, finished.queue_id)
    if finished is not None and finished.agent_id is not None:
        publish("agent.call", agent_id=finished.agent_id, call_sid=call_sid, status="ended",
                agent_state=finished.agent_state, wrap_up_until=finished.wrap_up_until)
        call = calls.get_call(session, call_sid)
        if call is not None and finished.agent_state == agent_state.WRAP_UP:
            calls.record_event(session, call, "wrap_up_started", {"agent_id": finished.agent_id},
                               dedupe_key=f"wrap_up_started:{call_sid}")
    session.commit()


def _close_callback(session: Session, r: redis.Redis, entry_id: str, customer_sid: str) -> None:
    """A called-back customer's leg ended: the callback is completed if they answered, else it failed."""
    record = calls.get_call(session, customer_sid)
    data = interaction(r, entry_id) or {}
    callback = session.get(Callback, int(data["callback_id"])) if data.get("callback_id") else None
    if callback is None or callback.status != "dialing":
        return
    # From the events: this runs in the status callback that ended the leg, before the call is re-derived.
    if record is not None and calls.current_values(session, record).get("answered_at") is not None:
        callback.status = "completed"
    elif callback.attempts < CALLBACK_MAX_ATTEMPTS:
        # Nobody answered: try again later, up to CALLBACK_MAX_ATTEMPTS times.
        callback.status, callback.due_at = "scheduled", utcnow() + CALLBACK_RETRY_DELAY
    else:
        callback.status = "failed"
    session.commit()


ORPHANS = "cc:interactions:orphaned"  # sorted set entry_id -> deadline for the agent to rejoin


def agent_leg_ended(session: Session, r: redis.Redis, *, agent_id: int, entry_id: str, status: str,
                    leg_sid: str | None = None, rejoin_grace_seconds: float = 30.0,
                    now: float | None = None) -> float | None:
    """The agent's softphone leg ended. Before an answer (rejected, no answer) the offer goes back.

    During the call, the leg dropping without the agent hanging up (a reloaded tab, a lost network) leaves the
    customer in the conference: the agent has `rejoin_grace_seconds` to come back before the customer is queued
    again. Returns that deadline, or None.
    """
    now = time.time() if now is None else now
    presence = agent_state.get_presence(r, agent_id)
    if presence.reservation == entry_id and status in ("busy", "no-answer", "failed", "canceled"):
        with contextlib.suppress(Conflict):  # the offer may have ended already (expired, caller gone)
            routing.reject_offer(session, r, agent_id, entry_id, now)
        return None
    data = interaction(r, entry_id) or {}
    if (status == "completed" and presence.state == agent_state.ON_CALL and presence.current_call == entry_id
            and leg_sid and data.get("agent_sid") == leg_sid and not data.get("ending")):
        deadline = now + rejoin_grace_seconds
        r.zadd(ORPHANS, {entry_id: deadline})
        publish("agent.call", agent_id=agent_id, call_sid=entry_id, status="dropped", rejoin_until=deadline)
        return deadline
    return None


def rejoin_answered(r: redis.Redis, *, agent_id: int, entry_id: str, leg_sid: str) -> dict[str, Any]:
    """The agent's softphone is back for a call it dropped: it joins the same conference again."""
    presence = agent_state.get_presence(r, agent_id)
    if presence.state != agent_state.ON_CALL or presence.current_call != entry_id:
        raise Conflict("This call is no longer yours", field="call_sid")
    set_interaction(r, entry_id, agent_sid=leg_sid)
    r.zrem(ORPHANS, entry_id)
    publish("agent.call", agent_id=agent_id, call_sid=entry_id, status="connected", rejoined=True)
    return interaction(r, entry_id) or {}


def owned_call(r: redis.Redis, agent_id: int, entry_id: str) -> dict[str, Any]:
    """The live interaction `entry_id`, checked to be the agent's current call."""
    presence = agent_state.get_presence(r, agent_id)
    data = interaction(r, entry_id)
    if presence.current_call != entry_id or data is None:
        raise Conflict("This call is not yours (or it has ended)", field="call_sid")
    return data


def hang_up(r: redis.Redis, agent_id: int, entry_id: str) -> str:
    """The agent ends the call: returns the customer's leg to hang up (the agent's own leg then drops too)."""
    data = owned_call(r, agent_id, entry_id)
    set_interaction(r, entry_id, ending="1")
    r.zrem(ORPHANS, entry_id)
    return data["caller_sid"]


def claim_orphans(r: redis.Redis, now: float | None = None) -> list[str]:
    """Interactions whose agent did not come back in time (each claimed by one process only)."""
    now = time.time() if now is None else now
    claimed = []
    for raw in r.zrangebyscore(ORPHANS, 0, now):
        entry_id = raw.decode() if isinstance(raw, bytes) else raw
        if r.zrem(ORPHANS, entry_id):
            claimed.append(entry_id)
    return claimed


def requeue_orphan(session: Session, r: redis.Redis, entry_id: str, now: float | None = None) -> int | None:
    """The agent never came back: their part ends (wrap-up) and the customer is queued again, ahead of the
    line (priority boost), in the same queue. Returns the queue id."""
    data = interaction(r, entry_id) or {}
    finished = routing.finish_call(session, r, entry_id, now)
    queue_id = data.get("queue_id") or (finished.queue_id if finished else None)
    if finished is not None and finished.agent_id is not None:
        publish("agent.call", agent_id=finished.agent_id, call_sid=entry_id, status="ended",
                agent_state=finished.agent_state, wrap_up_until=finished.wrap_up_until)
    return queue_id


def requeue_caller(session: Session, r: redis.Redis, *, call_sid: str, queue_id: int,
                   now: float | None = None) -> Queued:
    """Put a customer whose agent vanished back in line, ahead of new callers."""
    call = calls.get_call(session, call_sid)
    if call is None:
        raise NotFound(f"Call {call_sid} is not known", field="CallSid")
    queue = session.get(Queue, queue_id)
    if queue is None:
        raise NotFound(f"Queue {queue_id} not found", field="queue")
    enqueued = routing.enqueue_call(
        session, r, call_sid=call_sid, queue_id=queue.id, from_number=try_e164(call.from_number), now=now,
        priority_boost=REQUEUE_PRIORITY_BOOST,
        payload={"call_sid": call_sid, "ivr_path": calls.ivr_path(session, call), "queue_name": queue.name,
                 "requeued": True},
    )
    calls.record_event(session, call, "requeued", {"queue_id": queue.id},
                       dedupe_key=f"requeued:{call_sid}:{int(time.time())}")
    session.commit()
    return Queued(queue.id, queue.name, enqueued.position, estimated_wait(session, r, queue.id, enqueued.position))


REQUEUE_PRIORITY_BOOST = 50


def ringing_leg(r: redis.Redis, call_sid: str) -> str | None:
    data = interaction(r, call_sid)
    return data.get("ringing_sid") if data and not data.get("agent_sid") else None

