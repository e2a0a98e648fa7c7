"""The inbound call from the caller's side: greeted, routed by the IVR, queued, waiting, gone.

Each function is one step a voice webhook asks for. They take plain values, keep the call record and its event
log up to date, and use the ACD (services.routing) for everything about queues and agents. The webhooks turn
their results into TwiML. What happens on the agent's side is services.agent_legs; a booked callback's life after
the caller asked for it is services.callbacks.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import redis
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from callcenter.i18n_caller import caller_locale
from callcenter.models import Call, Callback, CallEvent, Queue, Recording, Ticket, TicketEvent, User, utcnow
from callcenter.services import (
    acd,
    agent_state,
    business_hours,
    callbacks,
    calls,
    contacts,
    interactions,
    ivr_flows,
    jobs,
    offers,
    outbound_calls,
    queue_stats,
    queues,
    routing,
    tickets,
)
from callcenter.services.errors import Conflict, NotFound
from callcenter.services.events import publish
from callcenter.services.interactions import ORPHANS
from callcenter.services.messages import t
from callcenter.services.phones import display, try_e164
from callcenter.services.priority import CallerFacts

log = logging.getLogger(__name__)

DEFAULT_HANDLE_SECONDS = 180  # until the queue has handled calls today
HANDLE_TIME_CACHE_SECONDS = 30
REQUEUE_PRIORITY_BOOST = 50  # a customer whose agent vanished goes ahead of new callers


# --- Greeting and IVR -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Greeting:
    """What to answer a new call with: the number's flow (None: not configured) and whether it is open."""

    call: Call
    definition: dict[str, Any] | None
    state: ivr_flows.GreetingState | None


def start_call(session: Session, *, call_sid: str, from_number: str, to_number: str, status: str | None,
               region: str = "US") -> Greeting:
    """Log the new call (idempotent) and find the IVR flow of the number that was dialled.

    While the caller listens to the menu, a job works out what the CRM says about them (learn_caller), so that
    joining a queue needs no CRM query."""
    # On the "realtime" queue, which the worker takes first: it must be done before the caller presses a key.
    jobs.defer(session, "workers.calls.learn_caller", call_sid, key=f"learn-caller-{call_sid}", queue="realtime")
    call = calls.open_call(session, call_sid=call_sid, direction="inbound", from_number=from_number,
                           to_number=to_number, occurred_at=utcnow(), status=status)
    definition = flow_definition(session, to_number, region)
    if definition is None:
        return Greeting(call, None, None)
    return Greeting(call, definition, ivr_flows.greeting_state(session, definition, utcnow()))


def learn_caller(session: Session, r: redis.Redis, call_sid: str, region: str = "US") -> None:
    """Keep what the CRM says about a call's caller for its routing and its screen-pop (nothing when the call is
    unknown)."""
    call = calls.get_call(session, call_sid)
    if call is not None:
        routing.learn_caller(session, r, call_sid, try_e164(call.from_number), call.started_at or call.created_at)
        offers.remember_caller_card(session, r, call_sid, call.from_number, region)
        remember_call(r, call)


def flow_definition(session: Session, to_number: str, region: str = "US") -> dict[str, Any] | None:
    """The active IVR flow of the number that was dialled (from the process cache)."""
    number = try_e164(to_number, region)
    return ivr_flows.active_definition(session, number) if number else None


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


@dataclass(frozen=True)
class MenuChoice:
    """What a menu answer led to: the number's flow (None: it has none), the flow's decision, where the caller
    was put when the decision routes to a queue, and the locale the next built-in texts are said in (the caller's
    chosen language, else the answered node's)."""

    definition: dict[str, Any] | None
    decision: ivr_flows.Decision | None = None
    placed: Queued | QueueClosed | None = None
    language: str | None = None


def menu_choice(session: Session, r: redis.Redis, *, call_sid: str, to_number: str, region: str,
                node_id: str | None, attempt: int, digits: str | None, speech: str | None) -> MenuChoice:
    """The caller answered a menu (or stayed silent): the flow decides, the step joins the call's IVR path, and
    a route to a queue puts the caller in it.

    Every write waits until the ACD's work in Redis is done, and they commit together: on SQLite a transaction
    holds the database's one write lock from its first write, and a lock held across Redis round trips made every
    other webhook of the floor wait behind this one."""
    definition = flow_definition(session, to_number, region)
    if definition is None:
        return MenuChoice(None)
    answered = node_id or definition["start"]
    decision = ivr_flows.decide(definition, answered, attempt, digits, speech)
    chosen = caller_locale(ivr_flows.chosen_language(decision))
    answered_at = utcnow()
    node = ivr_flows.node_of(definition, answered)
    node_locale = caller_locale(ivr_flows.node_speech(definition, node)[0]) if node is not None else None
    # The call's new events, inserted together once the ACD is done: each statement is time the caller waits.
    # They are all the menu writes: the call's language, queue and contact follow from them by derivation.
    events: list[calls.NewEvent] = []
    routed = _route_with_the_walk(session, r, call_sid, decision, attempt, answered_at, events)
    if routed is not None:
        call, placed = routed
        language = chosen or call.language or node_locale
    else:
        so_far = _walk_so_far(session, r, call_sid, decision.step, attempt, answered_at)
        call = so_far.call
        language = (chosen or (call.language if call is not None else None)) or node_locale
        step = decision.step if call is not None else None
        events += [ivr_step_event(call_sid, step, attempt, occurred_at=answered_at)] if step else []
        placed = None
        if isinstance(decision, ivr_flows.RouteToQueue):
            placed = queue_caller(session, r, call_sid=call_sid, queue_name=decision.queue_name,
                                  priority_boost=decision.priority_boost, call=call, language=language,
                                  caller_language=chosen or (call.language if call is not None else None),
                                  new_step=step, events=events, facts=so_far.facts)
    if call is not None and events:
        calls.record_events(session, call, events, commit=True)  # the insert carries the COMMIT
    else:
        session.commit()
    return MenuChoice(definition, decision, placed, language)


def ivr_step_event(call_sid: str, step: dict[str, Any], attempt: int, *,
                   occurred_at: datetime | None = None) -> calls.NewEvent:
    """A menu choice for the call's IVR path (a retried webhook adds nothing)."""
    return calls.NewEvent(calls.IVR_KIND, step, occurred_at=occurred_at,
                          dedupe_key=f"ivr:{call_sid}:{_step_name(step, attempt)}")


def _step_name(step: dict[str, Any], attempt: int) -> str:
    """What makes a menu answer one step of the walk: a retried webhook gives the same name."""
    return f"{step.get('node')}:{attempt}:{step.get('via')}"


# --- The caller's walk through the menus, kept in Redis -----------------------------------------------------------
#
# A hash per call: its id, number and language (put there by the greeting's job, learn_caller) and one field per menu
# answer. It is the call's events as the menu steps need them, so that answering a menu reads no row: every
# statement is time the caller waits, and on PostgreSQL a round trip that waits its turn on a busy web worker.
# The events stay the record; the walk is what the steps read while it has the call's id, else they read the events.

_WALK_ID, _WALK_FROM, _WALK_LANGUAGE, _WALK_E164, _WALK_LOCALE = "id", "from", "language", "e164", "locale"
_WALK_STEP = "step:"  # the prefix of a menu answer's field


def _walk_key(call_sid: str) -> str:
    return f"cc:call:{call_sid}:walk"


def remember_call(r: redis.Redis, call: Call) -> None:
    """Put the call's id, number and language in its walk, where the menu steps to come read them (the number
    as E.164 and the language as a locale too, for the ACD's script: acd.join_from_walk)."""
    key = _walk_key(call.call_sid)
    pipe = r.pipeline(transaction=False)
    pipe.hset(key, mapping={_WALK_ID: call.id, _WALK_FROM: call.from_number or "", _WALK_LANGUAGE: call.language or "",
                            _WALK_E164: try_e164(call.from_number) or "",
                            _WALK_LOCALE: caller_locale(call.language) or ""})
    pipe.expire(key, routing.CALLER_FACTS_SECONDS)
    pipe.execute()


@dataclass(frozen=True)
class SoFar:
    """A menu step's view of its call: the call (None: unknown) and the caller facts learnt at the greeting (None:
    not read, or not learnt yet)."""

    call: calls.CallSoFar | None
    facts: CallerFacts | None = None


def _walk_so_far(session: Session, r: redis.Redis, call_sid: str, step: dict[str, Any] | None, attempt: int,
                 answered_at: datetime) -> SoFar:
    """The call as its menu step needs it, and `step` (the answer being handled) added to its walk, in one Redis
    round trip that also reads the caller facts a queue needs. The call's IVR path is the steps before this one.

    From the call's events when the walk has no id: the greeting's job has not run yet, the key expired, or Redis
    is down (a step taken while Redis is down is in the events only; the walk, if it survives, misses it)."""
    key = _walk_key(call_sid)
    this_step = _walk_field(step, attempt)
    try:
        pipe = r.pipeline(transaction=False)
        if this_step and step:
            pipe.hset(key, this_step, _walk_answer(step, answered_at))
            pipe.expire(key, routing.CALLER_FACTS_SECONDS)
        pipe.hgetall(key)
        pipe.get(routing.caller_facts_key(call_sid))
        *_, walk, raw_facts = pipe.execute()
    except redis.RedisError:
        return SoFar(calls.call_so_far(session, call_sid))
    fields = {_text(name): _text(value) for name, value in walk.items()}
    facts = routing.stored_caller_facts(raw_facts)
    if not fields.get(_WALK_ID, "").isdigit():
        return SoFar(calls.call_so_far(session, call_sid), facts)
    taken = sorted((json.loads(value) for name, value in fields.items()
                    if name.startswith(_WALK_STEP) and name != this_step), key=lambda answer: answer["at"])
    path = [dict(answer["step"]) for answer in taken]
    call = calls.CallSoFar(int(fields[_WALK_ID]), call_sid, fields.get(_WALK_FROM) or None,
                           calls.chosen_locale(path) or fields.get(_WALK_LANGUAGE) or None, path)
    return SoFar(call, facts)


def _walk_field(step: dict[str, Any] | None, attempt: int) -> str | None:
    """The walk's field of a menu answer (None: no step)."""
    return _WALK_STEP + _step_name(step, attempt) if step else None


def _walk_answer(step: dict[str, Any], answered_at: datetime) -> str:
    """A menu answer as the walk keeps it: when, the step, and for acd.join_from_walk the step's identity and
    the locale it chose. "step" comes last: the script takes the step's JSON as written."""
    return json.dumps({"at": answered_at.timestamp(), "key": json.dumps(step, sort_keys=True),
                       "locale": calls.chosen_locale([step]) or "", "step": step})


def _route_with_the_walk(session: Session, r: redis.Redis, call_sid: str, decision: ivr_flows.Decision,
                         attempt: int, answered_at: datetime, events: list[calls.NewEvent]
                         ) -> tuple[calls.CallSoFar, Queued] | None:
    """A menu answer that routes the caller to an open queue, in one Redis round trip: the step joins the walk
    and the caller the queue, with what the walk and the caller facts say (routing.enqueue_from_walk); its
    events are added to `events`. The call as the step knows it, with no IVR path: the steps no longer read it.

    None when the answer routes nowhere, the queue is closed (its message is said in the caller's language,
    read from the walk first), or the walk and facts cannot say it yet (the greeting's job has not run), or Redis
    failed: the step reads the walk, then joins, as it did before."""
    if not isinstance(decision, ivr_flows.RouteToQueue):
        return None
    queue = queues.queue_named(session, decision.queue_name)
    if queue is None or not queue.active or not business_hours.is_open(queue, answered_at):
        return None
    handle_key = _handle_time_key(queue.id)
    step = decision.step
    try:
        routed = routing.enqueue_from_walk(
            session, r, call_sid=call_sid, queue=queue, walk_key=_walk_key(call_sid),
            step_field=_walk_field(step, attempt), step_value=_walk_answer(step, answered_at) if step else "",
            walk_seconds=routing.CALLER_FACTS_SECONDS, payload={"call_sid": call_sid, "queue_name": queue.name},
            now=answered_at.timestamp(), priority_boost=decision.priority_boost, read_along=[handle_key],
            commit=False)  # the menu step commits its events and the offer together: one transaction
    except redis.RedisError:
        log.warning("call %s: joining %s with its walk failed; joining as before", call_sid, queue.name,
                    exc_info=True)
        return None
    if routed is None:
        return None
    walked, enqueued = routed
    call = calls.CallSoFar(walked.call_id, call_sid, walked.from_number, walked.call_language, [])
    if step:
        events.append(ivr_step_event(call_sid, step, attempt, occurred_at=answered_at))
    return call, _queued(session, r, call_sid, queue, enqueued, answered_at, events)


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def queue_caller(session: Session, r: redis.Redis, *, call_sid: str, queue_name: str, priority_boost: int = 0,
                 now: float | None = None, call: calls.CallSoFar | None = None, language: str | None = None,
                 caller_language: str | None = None, new_step: dict[str, Any] | None = None,
                 events: list[calls.NewEvent] | None = None,
                 facts: CallerFacts | None = None) -> Queued | QueueClosed:
    """Put the caller in the queue the IVR chose (closed queues answer with their next opening, said in the
    caller's `language`); the call's changes are left for the caller to commit, after the ACD's work.

    `call` is what the step already read of the call (saves reading it again); `caller_language` the language the
    caller chose (routes to agents who speak it), when it is not yet among the call's choices; `new_step` is the
    menu choice that routes here, not yet in the call's events, shown at the end of the IVR path; `events` the
    call's events the caller inserts together, to which the "enqueued" event is added (None: it is recorded
    here); `facts` the caller facts when the step read them already. The event names the queue and the one
    contact the caller's number matched: derivation fills them in on the call's record, so the step writes no row
    but its events."""
    now = time.time() if now is None else now
    queue = queues.queue_named(session, queue_name)
    if queue is None or not queue.active:
        raise NotFound(t('Queue %(queue_name)r is not taking calls', queue_name=queue_name), field="queue")
    when = datetime.fromtimestamp(now, UTC)
    if not business_hours.is_open(queue, when):
        return QueueClosed(queue.name, business_hours.opening_message(queue, when, language))
    if call is None or call.call_sid != call_sid:
        call = calls.call_so_far(session, call_sid)
    if call is None:
        raise NotFound(t('Call %(call_sid)s is not known', call_sid=call_sid), field="CallSid")
    path = list(call.ivr_path)
    if new_step and new_step not in path:
        path.append(new_step)
    handle_key = _handle_time_key(queue.id)
    enqueued = routing.enqueue_call(
        session, r, call_sid=call_sid, queue_id=queue.id, from_number=try_e164(call.from_number), now=now,
        priority_boost=priority_boost, language=caller_language or call.language,
        payload={"call_sid": call_sid, "ivr_path": path, "queue_name": queue.name}, read_along=[handle_key],
        commit=False,  # the menu step commits its events and the offer together: one transaction
        facts=facts,
    )
    if events is None:
        events = []
        queued = _queued(session, r, call_sid, queue, enqueued, when, events)
        calls.record_events(session, call, events)
        return queued
    return _queued(session, r, call_sid, queue, enqueued, when, events)


def _queued(session: Session, r: redis.Redis, call_sid: str, queue: queues.QueueSnapshot,
            enqueued: routing.Enqueued, when: datetime, events: list[calls.NewEvent]) -> Queued:
    """Where the caller now waits, and the "enqueued" event added to `events`: it names the queue and the one
    contact the caller's number matched."""
    position = enqueued.position
    estimate = estimated_wait(session, r, queue.id, position, cached=enqueued.read_along[_handle_time_key(queue.id)])
    matched = enqueued.decision.contact_ids
    events.append(calls.NewEvent(calls.ENQUEUED_KIND, {
        "queue_id": queue.id, "priority": enqueued.entry.priority, "reasons": list(enqueued.decision.reasons),
        "contact_id": matched[0] if matched and len(matched) == 1 else None,
    }, dedupe_key=f"enqueued:{call_sid}", occurred_at=when))
    return Queued(queue.id, queue.name, position, estimate)


def _handle_time_key(queue_id: int) -> str:
    return f"cc:queue:{queue_id}:handle"


_UNREAD: Any = object()


def estimated_wait(session: Session, r: redis.Redis, queue_id: int, position: int | None, *,
                   cached: bytes | str | None = _UNREAD) -> int | None:
    """Position times today's average handle time, shared among the agents working now (None: no estimate).

    `cached`: the value of the queue's handle-time cache when the caller read it along with other keys."""
    if position is None:
        return None
    cache = _handle_time_key(queue_id)
    if cached is _UNREAD:
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
        staffed = agent_state.count_in_states(r, list(agent_ids), working)
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
    language: str | None = None  # the caller's chosen locale, for the announcements
    # An agent answered the caller: the conference the caller joins now (see `answered_conference`).
    conference_name: str | None = None
    agent_id: int | None = None


def wait_status(session: Session, r: redis.Redis, call_sid: str, now: float | None = None) -> WaitStatus:
    now = time.time() if now is None else now
    entry = acd.get_entry(r, call_sid)
    if entry is None:
        return WaitStatus(False)
    answered = answered_conference(r, call_sid) if entry.status == "connected" else None
    if answered is not None:
        return WaitStatus(False, queue_id=answered.get("queue_id"), conference_name=answered["conference_name"],
                          agent_id=answered.get("agent_id"))
    queue = queues.queue_snapshot(session, entry.queue_id)
    handle_key = _handle_time_key(entry.queue_id)
    _, position, _, read = acd.entry_position_and_stats(r, call_sid, entry.queue_id, None, [handle_key])
    waited = now - entry.enqueued_at
    return WaitStatus(
        waiting=True,
        position=position,
        estimated_wait_seconds=estimated_wait(session, r, entry.queue_id, position, cached=read[handle_key]),
        waited_seconds=waited,
        over_max_wait=bool(queue and entry.status == "waiting" and waited >= queue.max_wait_seconds),
        queue_id=entry.queue_id,
        language=entry.language,
    )


def answered_conference(r: redis.Redis, call_sid: str) -> dict[str, Any] | None:
    """The live interaction of a caller an agent has answered (their entry is `connected`), when the caller is
    still in the wait loop: the agent's answer redirects the caller's call into the conference, and the carrier
    refused it, or the caller's wait turn crossed it. The wait turn used to play the hold music again, turn after
    turn, while the agent waited for the caller in the conference."""
    joined = interactions.interaction(r, call_sid)
    if joined is None or not joined.get("conference_name") or joined.get("callback_phone"):
        return None
    return joined


def wait_turn(session: Session, r: redis.Redis, call_sid: str, now: float | None = None) -> WaitStatus:
    """One turn of the wait loop: where the caller stands; at the queue's maximum wait they leave the queue."""
    status = wait_status(session, r, call_sid, now)
    if status.waiting and status.over_max_wait:
        leave_queue(session, r, call_sid, "max wait reached", now)
    return status


def leave_queue(session: Session, r: redis.Redis, call_sid: str, reason: str, now: float | None = None) -> None:
    """Take a caller out of the queue (max wait reached, went to voicemail)."""
    routing.finish_call(session, r, call_sid, now)
    call = calls.get_call(session, call_sid)
    if call is not None:
        calls.record_event(session, call, "left_queue", {"reason": reason}, dedupe_key=f"left_queue:{call_sid}")
        session.commit()


# --- A callback or a message instead of waiting -----------------------------------------------------------------


def request_callback(session: Session, r: redis.Redis, call_sid: str, now: float | None = None) -> Callback:
    """The waiting caller pressed *: a callback keeps their place in line (one open per number and queue)."""
    now = time.time() if now is None else now
    entry = acd.get_entry(r, call_sid)
    call = calls.get_call(session, call_sid)
    if entry is None or call is None:
        raise Conflict(t('The caller is no longer waiting'), field="CallSid")
    phone = try_e164(call.from_number)
    if phone is None:
        raise Conflict(t('We cannot call back a withheld number'), field="From")
    open_one = callbacks.open_callback(session, phone, entry.queue_id)
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
        "callback_id": callback.id, "caller_language": entry.language or call.language})
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
    existing = callbacks.open_callback(session, phone, queue.id if queue else None)
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


def voicemail_received(session: Session, *, call_sid: str, recording_url: str | None, recording_sid: str | None,
                       duration_seconds: int | None, transcription: str | None = None,
                       policy: tickets.TicketPolicy | None = None) -> Ticket | None:
    """A message was left: keep the recording on the call and open a ticket for it (once per call)."""
    call = calls.get_call(session, call_sid)
    if call is None:
        raise NotFound(t('Call %(call_sid)s is not known', call_sid=call_sid), field="CallSid")
    if not recording_url:
        return None
    call.recording_url, call.recording_sid = recording_url, recording_sid
    existing = session.scalar(select(Ticket).where(Ticket.call_id == call.id))
    if existing is not None:
        session.commit()
        return existing
    caller = try_e164(call.from_number)
    if call.contact_id is None and caller is not None:
        # The message is the caller's: link it to the contact with this number (only when one contact has it).
        matches = contacts.contacts_for_number(session, caller)
        if len(matches) == 1:
            call.contact_id = matches[0].id
    message = _voicemail_recording(session, call, recording_sid, recording_url, duration_seconds)
    # The ticket names the product's player, never the carrier's media URL (services.recordings guards playback).
    where = f"/recordings/{message.id}/audio" if message is not None else ""
    ticket = Ticket(
        subject=f"Voicemail from {display(caller) if caller else call.from_number or 'an unknown caller'}",
        description=((transcription or "") + f"\n\nRecording ({duration_seconds or 0} s): {where}").strip(),
        priority="normal", contact_id=call.contact_id, call_id=call.id,
    )
    session.add(ticket)
    now = utcnow()
    tickets.opened(session, ticket, actor_id=None, now=now, policy=policy or tickets.TicketPolicy(),
                   source="voicemail")
    tickets.reopen_for_contact(session, call.contact_id, reason="message", now=now,
                               policy=policy or tickets.TicketPolicy(), call_id=call.id, exclude_ticket_id=ticket.id)
    calls.record_event(session, call, "voicemail", {"recording_sid": recording_sid, "duration": duration_seconds},
                       dedupe_key=f"voicemail:{call_sid}")
    session.commit()
    _attach_transcription(session, call.id)  # it may have come before the message's action
    return ticket


TRANSCRIPTION_EVENT = "voicemail_transcribed"


def _voicemail_recording(session: Session, call: Call, recording_sid: str | None, recording_url: str,
                         duration_seconds: int | None) -> Recording | None:
    """The message as a recording (played through the product, like call recordings), once per RecordingSid."""
    if not recording_sid:
        return None
    found = session.scalar(select(Recording).where(Recording.recording_sid == recording_sid))
    if found is None:
        now = utcnow()
        found = Recording(recording_sid=recording_sid[:64], call_sid=call.call_sid, call_id=call.id, agent_id=None,
                          trigger="voicemail", status="completed", duration_seconds=duration_seconds,
                          media_url=recording_url[:500], started_at=now, completed_at=now)
        session.add(found)
        session.flush()
    return found


def _transcription_on_ticket(session: Session, ticket: Ticket, data: dict[str, Any], now: datetime) -> None:
    """The transcription as a line of the ticket's history (the text, or why there is none)."""
    text = (data.get("text") or "").strip()
    session.add(TicketEvent(ticket_id=ticket.id, at=now, actor_id=None, kind="transcription",
                            body=text or t("The message could not be transcribed."),
                            data={"recording_sid": data.get("recording_sid"), "status": data.get("status")}))


def voicemail_transcribed(session: Session, *, call_sid: str, recording_sid: str | None, status: str,
                          text: str) -> Ticket | None:
    """A voicemail's transcription arrived (its own callback, after or before the message's action): it goes on
    the message's ticket, its description when empty, and the ticket's history; a repeat changes nothing."""
    call = calls.get_call(session, call_sid)
    if call is None:
        raise NotFound(t('Call %(call_sid)s is not known', call_sid=call_sid), field="CallSid")
    data = {"recording_sid": recording_sid, "status": (status or "").lower()[:20],
            "text": text.strip() if status.lower() == "completed" else ""}
    calls.record_event(session, call, TRANSCRIPTION_EVENT, data, dedupe_key=f"{TRANSCRIPTION_EVENT}:{call_sid}")
    session.commit()
    return _attach_transcription(session, call.id)


def _attach_transcription(session: Session, call_id: int) -> Ticket | None:
    """Put the call's transcription on its voicemail ticket once both exist; committed.

    The transcription and the message's action are separate webhooks that may run at the same moment: each
    stores its own row, commits, then calls this, so whichever commits second finds both. The ticket row is
    written first (a lock on both databases), so two callers add the transcription once."""
    locked = session.execute(update(Ticket).where(Ticket.call_id == call_id).values(updated_at=utcnow())
                             .execution_options(synchronize_session=False)).rowcount
    ticket = session.scalar(select(Ticket).where(Ticket.call_id == call_id)) if locked else None
    event = session.scalar(select(CallEvent).where(CallEvent.call_id == call_id,
                                                   CallEvent.kind == TRANSCRIPTION_EVENT).limit(1))
    if ticket is None or event is None or session.scalar(
            select(TicketEvent.id).where(TicketEvent.ticket_id == ticket.id,
                                         TicketEvent.kind == "transcription").limit(1)) is not None:
        session.rollback()
        return ticket
    session.refresh(ticket)
    text = event.data.get("text") or ""
    if text and not ticket.description.strip().startswith(text):
        ticket.description = text + "\n\n" + ticket.description.strip()
    _transcription_on_ticket(session, ticket, event.data, utcnow())
    session.commit()
    return ticket


def caller_language(session: Session, r: redis.Redis, call_sid: str) -> str | None:
    """The locale the caller chose in the IVR ("zh_Hans"), from the ACD entry while queued, else the call record
    (also when Redis is down: a caller whose message was saved hears the thanks, not "technical difficulties")."""
    try:
        entry = acd.get_entry(r, call_sid)
    except redis.RedisError:
        entry = None
    if entry is not None and entry.language:
        return entry.language
    call = calls.call_so_far(session, call_sid)
    return call.language if call is not None else None


# --- Back in line, or gone --------------------------------------------------------------------------------------


def requeue_caller(session: Session, r: redis.Redis, *, call_sid: str, queue_id: int,
                   now: float | None = None) -> Queued:
    """Put a customer whose agent vanished back in line, ahead of new callers."""
    call = calls.get_call(session, call_sid)
    if call is None:
        raise NotFound(t('Call %(call_sid)s is not known', call_sid=call_sid), field="CallSid")
    queue = session.get(Queue, queue_id)
    if queue is None:
        raise NotFound(t('Queue %(queue_id)s not found', queue_id=queue_id), field="queue")
    enqueued = routing.enqueue_call(
        session, r, call_sid=call_sid, queue_id=queue.id, from_number=try_e164(call.from_number), now=now,
        priority_boost=REQUEUE_PRIORITY_BOOST, language=call.language,
        payload={"call_sid": call_sid, "ivr_path": calls.ivr_path(session, call), "queue_name": queue.name,
                 "requeued": True},
    )
    calls.record_event(session, call, "requeued", {"queue_id": queue.id},
                       dedupe_key=f"requeued:{call_sid}:{int(time.time())}")
    session.commit()
    return Queued(queue.id, queue.name, enqueued.position, estimated_wait(session, r, queue.id, enqueued.position))


def call_ended(session: Session, r: redis.Redis, call_sid: str, now: float | None = None, *,
               call: Call | None = None) -> None:
    """The customer's leg ended: out of the queue, or the agent goes to wrap-up (a callback is then done).

    `call` is the leg's record when the caller has it already (the status webhook just logged the callback on it):
    not read again."""
    entry_id = callbacks.callback_of_leg(r, call_sid)
    if entry_id is not None:
        callbacks.close_callback(session, r, entry_id, call_sid)
        call_sid, call = entry_id, None
    r.zrem(ORPHANS, call_sid)  # nobody needs to rejoin a call that has ended
    waiting = acd.get_entry(r, call_sid)  # how long an abandoning caller waited
    finished = routing.finish_call(session, r, call_sid, now)
    if finished is not None and finished.status == "waiting" and waiting is not None and not waiting.callback:
        waited = (time.time() if now is None else now) - waiting.enqueued_at
        callbacks.book_after_abandon(session, call_sid, finished.queue_id, waited)
    if finished is None:
        outbound_calls.call_ended(session, r, call_sid, now)  # a call an agent placed: wrap-up
    if finished is not None:
        queue_stats.publish_today_later(session, finished.queue_id)
    if finished is not None and finished.agent_id is not None:
        publish("agent.call", agent_id=finished.agent_id, call_sid=call_sid, status="ended",
                agent_state=finished.agent_state, wrap_up_until=finished.wrap_up_until)
        if call is None or call.call_sid != call_sid:
            call = calls.get_call(session, call_sid)
        if call is not None and finished.agent_state == agent_state.WRAP_UP:
            calls.record_event(session, call, "wrap_up_started", {"agent_id": finished.agent_id},
                               dedupe_key=f"wrap_up_started:{call_sid}")
    session.commit()
