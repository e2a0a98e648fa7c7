"""A booked callback's life: released into its queue when due, dialed when an agent answers it, then closed.

Callers book them (services.caller_steps: `*` while waiting, `1` on a closed line, or by hanging up after a
long enough wait where the queue says so), the public web form books them, and agents book them at wrap-up (the
agent then owns it: it is offered to them first, to the whole queue after the queue's owner wait). From then on a
callback is offered to an agent like a caller, and answering it dials the customer into the interaction's
conference — in a job (`workers.callbacks.dial_callback`) whose claim is committed before the carrier is asked,
so a job run twice never calls the customer twice. Every dial is a CallbackAttempt row. Unanswered, it is tried
again later, up to CALLBACK_MAX_ATTEMPTS times.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import redis
from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from callcenter.models import Call, Callback, CallbackAttempt, Team, User, utcnow
from callcenter.services import calls, dialing_gate, jobs, queues, routing
from callcenter.services.errors import Conflict
from callcenter.services.interactions import (
    INTERACTION_TTL_SECONDS,
    conference_name,
    interaction,
    set_interaction,
)
from callcenter.services.phones import try_e164
from callcenter.telephony.base import Provider, TelephonyError

log = logging.getLogger(__name__)

CALLBACK_MAX_ATTEMPTS = 3
CALLBACK_RETRY_DELAY = timedelta(minutes=15)
OPEN_STATUSES = ("scheduled", "offered", "dialing")
DIAL_JOB = "workers.callbacks.dial_callback"
DIAL_JOB_TIMEOUT_SECONDS = 30
# A claimed dial that neither learned its leg nor heard from the carrier this long is taken as never placed.
STALLED_DIAL = timedelta(minutes=2)
LEG_EVENTS = ("initiated", "ringing", "answered", "completed")


def open_callback(session: Session, phone: str, queue_id: int | None) -> Callback | None:
    """The callback still open for this number and queue, if any (one at a time: never call someone twice)."""
    return session.scalar(select(Callback).where(
        Callback.phone_e164 == phone, Callback.queue_id == queue_id, Callback.status.in_(OPEN_STATUSES)))


def open_callback_for_number(session: Session, phone: str) -> Callback | None:
    """Any callback still open for this number, whatever its queue."""
    return session.scalar(select(Callback).where(Callback.phone_e164 == phone,
                                                 Callback.status.in_(OPEN_STATUSES)).limit(1))


def _owner_queue_ids(session: Session, owner_ids: set[int]) -> dict[int, int]:
    """Each owner's team queue: where a callback without a queue (booked after an outbound call) is offered."""
    if not owner_ids:
        return {}
    rows = session.execute(select(User.id, Team.queue_id).join(Team, User.team_id == Team.id)
                           .where(User.id.in_(owner_ids), Team.queue_id.is_not(None))).all()
    return {user_id: queue_id for user_id, queue_id in rows}


def release_due_callbacks(session: Session, r: redis.Redis, now: float | None = None, limit: int = 100,
                          rules: dialing_gate.DialRules | None = None) -> list[int]:
    """Scheduled callbacks whose time has come join their queue, ordered by when they fell due.

    Booked from a wrap-up or after hours; each is offered to an agent like a caller, and answering it dials the
    customer in. An owned callback is offered to its owner first: the rest of the queue gets it only after the
    queue's `callback_owner_wait_seconds` (or at once while the owner is logged out). One without a queue (after
    an outbound call) is released to its owner through their team's queue; without an owner it waits for a
    person to assign one. The dialing gate decides first: a refusal that time cures (calling hours, caps,
    lock-out) puts the callback off, any other ends it as failed; either way the refusal is stored with its reason.
    """
    now = time.time() if now is None else now
    when = datetime.fromtimestamp(now, UTC)
    _give_up_stalled_dials(session, when)
    due = session.scalars(
        select(Callback).where(Callback.status == "scheduled",
                               or_(Callback.queue_id.is_not(None), Callback.owner_id.is_not(None)),
                               Callback.due_at <= when)
        .order_by(Callback.due_at, Callback.id).limit(limit)
    ).all()
    team_queues = _owner_queue_ids(session, {c.owner_id for c in due if c.queue_id is None and c.owner_id})
    released = []
    for callback in due:
        queue_id = callback.queue_id or team_queues.get(callback.owner_id or 0)
        if queue_id is None:
            continue  # an owner without a team queue: a person assigns it one
        if not _gate_allows(session, callback, when, rules):
            continue
        queue = queues.queue_snapshot(session, queue_id)
        owner_wait = queue.callback_owner_wait_seconds if queue is not None else 0
        try:
            routing.enqueue_callback(
                session, r, entry_id=entry_id_of(callback), queue_id=queue_id,
                phone=callback.phone_e164, priority=0, enqueued_at=min(callback.due_at.timestamp(), now),
                contact_id=callback.contact_id, now=now,
                payload={"callback_id": callback.id, "notes": callback.notes[:500],
                         "owner_id": callback.owner_id},
                language=_language_of_call(session, callback.call_id),
                owner_id=callback.owner_id, owner_until=now + owner_wait,
            )
        except Conflict:
            continue  # this number already has a callback in that queue; this one waits its turn
        callback.status = "offered"
        released.append(callback.id)
    session.commit()
    return released


def entry_id_of(callback: Callback) -> str:
    """The ACD entry of a released callback: one per attempt, so a retry is a new entry."""
    return f"cbk-{callback.id}-{callback.attempts}"


def _gate_allows(session: Session, callback: Callback, now: datetime, rules: dialing_gate.DialRules | None) -> bool:
    """Ask the dialing gate for a due callback; a refused one is put off or failed (the caller commits)."""
    decision = dialing_gate.may_dial(session, callback.phone_e164, actor=callback.created_by_id or callback.agent_id,
                                     now=now, path="callback", rules=rules)
    if decision.allowed:
        return True
    if decision.reason in dialing_gate.TEMPORARY_REASONS:
        later = None
        if decision.reason == dialing_gate.OUTSIDE_CALLING_WINDOW:
            later = dialing_gate.next_window_opening(callback.phone_e164, now, rules)
        callback.due_at = later or now + CALLBACK_RETRY_DELAY
    else:
        callback.status = "failed"
    return False


def _language_of_call(session: Session, call_id: int | None) -> str | None:
    """The language the caller chose on the call that asked for this callback (it routes the callback too)."""
    call = session.get(Call, call_id) if call_id is not None else None
    return call.language if call is not None else None


def start_dialing(session: Session, r: redis.Redis, entry_id: str, callback_id: int,
                  agent_id: int) -> CallbackAttempt | None:
    """An agent answered the callback `entry_id`: one more attempt, recorded, and its dial left to a job that
    runs once this commits (the caller commits)."""
    callback = session.get(Callback, callback_id)
    if callback is None:
        return None
    callback.status, callback.agent_id = "dialing", agent_id
    callback.attempts += 1
    set_interaction(r, entry_id, callback_id=callback.id)
    attempt = CallbackAttempt(callback_id=callback.id, attempt=callback.attempts, entry_id=entry_id,
                              agent_id=agent_id, result="pending")
    session.add(attempt)
    session.flush()
    # Job id per attempt: enqueued twice, it runs once; run twice (a retry), its claim stops the second dial.
    jobs.defer(session, DIAL_JOB, attempt.id, key=f"callback-dial-{attempt.id}", queue="callbacks",
               timeout=DIAL_JOB_TIMEOUT_SECONDS)
    return attempt


def claim_dial(session: Session, attempt_id: int) -> bool:
    """Take the dial of an attempt for this run, committed before anything is asked of the carrier.

    False when another run took it already (it dialled, or died while dialling: the customer may be ringing)."""
    taken = session.execute(
        update(CallbackAttempt).where(CallbackAttempt.id == attempt_id, CallbackAttempt.result == "pending")
        .values(result="dialing", claimed_at=utcnow())
    ).rowcount
    session.commit()
    return taken == 1


def dial(session: Session, r: redis.Redis, provider: Provider, attempt_id: int, *, caller_id: str,
         webhook_url: Callable[..., str]) -> str | None:
    """Dial the customer of a callback attempt into its interaction's conference, at most once.

    Returns the customer leg's CallSid, or None when nothing was dialled (claimed by an earlier run, or the
    interaction ended meanwhile). A carrier refusal fails the attempt and ends the agent's part of it."""
    attempt = session.get(CallbackAttempt, attempt_id)
    if attempt is None or not claim_dial(session, attempt_id):
        return None
    data = interaction(r, attempt.entry_id) or {}
    callback = session.get(Callback, attempt.callback_id)
    if callback is None or not data.get("callback_phone"):  # the interaction expired: nothing to dial into
        _end_attempt(attempt, "failed")
        if callback is not None:
            _after_failed_attempt(callback)
        session.commit()
        return None
    try:
        customer = provider.add_participant(
            data.get("conference_name") or conference_name(attempt.entry_id), from_=caller_id,
            to=data["callback_phone"], label="customer", end_conference_on_exit=True,
            # The attempt in the URL: should this run die before it stores the leg, the carrier still tells.
            status_callback=webhook_url("/status", callback_attempt=attempt.id), status_callback_events=LEG_EVENTS)
    except TelephonyError as exc:
        # Not retried: the carrier may have placed the call before refusing to say so; the callback is retried later.
        log.warning("callback attempt %s: the carrier refused the dial (%s)", attempt.id, exc)
        _end_attempt(attempt, "failed")
        _after_failed_attempt(callback)
        session.commit()
        routing.finish_call(session, r, attempt.entry_id)
        return None
    leg_reported(session, r, attempt.id, customer.call_sid)
    return customer.call_sid


def leg_reported(session: Session, r: redis.Redis, attempt_id: int, call_sid: str) -> None:
    """The customer leg of an attempt is known (from the carrier's answer, or its first status callback when the
    dialling run died first): it is stored, and its end will close the callback."""
    attempt = session.get(CallbackAttempt, attempt_id)
    if attempt is None or attempt.call_sid is not None:
        return
    attempt.call_sid = call_sid
    if attempt.result == "interrupted":
        attempt.result = "dialing"
    session.commit()
    callback_dialed(r, attempt.entry_id, call_sid)


def _end_attempt(attempt: CallbackAttempt, result: str) -> None:
    attempt.result, attempt.ended_at = result, utcnow()


def _after_failed_attempt(callback: Callback) -> None:
    """Nobody answered: try again later, up to CALLBACK_MAX_ATTEMPTS times."""
    if callback.attempts < CALLBACK_MAX_ATTEMPTS:
        callback.status, callback.due_at = "scheduled", utcnow() + CALLBACK_RETRY_DELAY
    else:
        callback.status = "failed"


def _give_up_stalled_dials(session: Session, now: datetime) -> None:
    """Dials claimed long ago that never learned a leg (the run died before the carrier heard of it): the attempt
    was interrupted and the callback is tried again later. A leg the carrier did place reports itself first."""
    stalled = session.scalars(select(CallbackAttempt).where(
        CallbackAttempt.result == "dialing", CallbackAttempt.call_sid.is_(None),
        CallbackAttempt.claimed_at <= now - STALLED_DIAL)).all()
    for attempt in stalled:
        _end_attempt(attempt, "interrupted")
        callback = session.get(Callback, attempt.callback_id)
        if callback is not None and callback.status == "dialing":
            _after_failed_attempt(callback)


def leg_key(call_sid: str) -> str:
    return f"cc:leg:{call_sid}"


def callback_dialed(r: redis.Redis, entry_id: str, customer_sid: str) -> None:
    """The customer's leg of a callback: when it ends, the callback's interaction ends."""
    set_interaction(r, entry_id, caller_sid=customer_sid)
    r.set(leg_key(customer_sid), entry_id, ex=INTERACTION_TTL_SECONDS)


def callback_of_leg(r: redis.Redis, call_sid: str) -> str | None:
    """The callback interaction whose customer leg `call_sid` is, or None for any other leg."""
    entry_id = r.get(leg_key(call_sid))
    return entry_id.decode() if isinstance(entry_id, bytes) else entry_id


def close_callback(session: Session, r: redis.Redis, entry_id: str, customer_sid: str) -> None:
    """A called-back customer's leg ended: the callback is completed if they answered, else it failed."""
    record = calls.get_call(session, customer_sid)
    data = interaction(r, entry_id) or {}
    callback = session.get(Callback, int(data["callback_id"])) if data.get("callback_id") else None
    if callback is None or callback.status != "dialing":
        return
    attempt = session.scalar(select(CallbackAttempt).where(CallbackAttempt.callback_id == callback.id,
                                                           CallbackAttempt.call_sid == customer_sid))
    # From the events: this runs in the status callback that ended the leg, before the call is re-derived.
    if record is not None and calls.current_values(session, record).get("answered_at") is not None:
        callback.status = "completed"
        if attempt is not None:
            _end_attempt(attempt, "answered")
    else:
        if attempt is not None:
            _end_attempt(attempt, "no_answer")
        _after_failed_attempt(callback)
    session.commit()


def book_after_abandon(session: Session, call_sid: str, queue_id: int, waited_seconds: float,
                       now: datetime | None = None) -> Callback | None:
    """A caller hung up while waiting: where the queue says so, and they waited at least its minimum, they get a
    callback (due now, keeping when they called), unless their number already has one open. The caller commits."""
    queue = queues.queue_snapshot(session, queue_id)  # process memory: most queues have the switch off
    if queue is None or not queue.abandoned_callbacks or waited_seconds < queue.abandoned_callback_min_wait_seconds:
        return None
    call = calls.get_call(session, call_sid)
    phone = try_e164(call.from_number) if call is not None else None
    if call is None or phone is None or open_callback_for_number(session, phone) is not None:
        return None
    now = now or utcnow()
    callback = Callback(contact_id=call.contact_id, phone_e164=phone, queue_id=queue_id, call_id=call.id,
                        requested_at=now - timedelta(seconds=waited_seconds), due_at=now, status="scheduled",
                        source="abandoned", notes="Hung up after waiting")
    session.add(callback)
    calls.record_event(session, call, "callback_requested", {"queue_id": queue_id, "abandoned": True},
                       dedupe_key=f"callback_requested:{call_sid}")
    return callback
