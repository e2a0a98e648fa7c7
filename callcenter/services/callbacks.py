"""A booked callback's life: released into its queue when due, dialed when an agent answers it, then closed.

Callers book them (services.caller_steps: `*` while waiting, `1` on a closed line) and agents book them at
wrap-up; from then on a callback is offered to an agent like a caller, and answering it dials the customer into
the interaction's conference. Unanswered, it is tried again later, up to CALLBACK_MAX_ATTEMPTS times.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import redis
from sqlalchemy import select
from sqlalchemy.orm import Session

from callcenter.models import Call, Callback, utcnow
from callcenter.services import calls, dialing_gate, routing
from callcenter.services.errors import Conflict
from callcenter.services.interactions import INTERACTION_TTL_SECONDS, interaction, set_interaction

CALLBACK_MAX_ATTEMPTS = 3
CALLBACK_RETRY_DELAY = timedelta(minutes=15)
OPEN_STATUSES = ("scheduled", "offered", "dialing")


def open_callback(session: Session, phone: str, queue_id: int | None) -> Callback | None:
    """The callback still open for this number and queue, if any (one at a time: never call someone twice)."""
    return session.scalar(select(Callback).where(
        Callback.phone_e164 == phone, Callback.queue_id == queue_id, Callback.status.in_(OPEN_STATUSES)))


def release_due_callbacks(session: Session, r: redis.Redis, now: float | None = None, limit: int = 100,
                          rules: dialing_gate.DialRules | None = None) -> list[int]:
    """Scheduled callbacks whose time has come join their queue, ordered by when they fell due.

    Booked from a wrap-up or after hours; each is offered to an agent like a caller, and answering it dials the
    customer in. A callback without a queue (e.g. after an outbound call) waits for a person to assign one.
    The dialing gate decides first: a refusal that time cures (calling hours, caps, lock-out) puts the callback
    off, any other ends it as failed; either way the refusal is stored with its reason.
    """
    now = time.time() if now is None else now
    due = session.scalars(
        select(Callback).where(Callback.status == "scheduled", Callback.queue_id.is_not(None),
                               Callback.due_at <= datetime.fromtimestamp(now, UTC))
        .order_by(Callback.due_at, Callback.id).limit(limit)
    ).all()
    released = []
    for callback in due:
        if not _gate_allows(session, callback, datetime.fromtimestamp(now, UTC), rules):
            continue
        try:
            routing.enqueue_callback(
                session, r, entry_id=f"cbk-{callback.id}-{callback.attempts}", queue_id=callback.queue_id,
                phone=callback.phone_e164, priority=0, enqueued_at=min(callback.due_at.timestamp(), now),
                contact_id=callback.contact_id, now=now,
                payload={"callback_id": callback.id, "notes": callback.notes[:500]},
                language=_language_of_call(session, callback.call_id),
            )
        except Conflict:
            continue  # this number already has a callback in that queue; this one waits its turn
        callback.status = "offered"
        released.append(callback.id)
    session.commit()
    return released


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


def start_dialing(session: Session, r: redis.Redis, entry_id: str, callback_id: int, agent_id: int) -> None:
    """An agent answered the callback `entry_id`: it is being dialed, one more attempt (the caller commits)."""
    callback = session.get(Callback, callback_id)
    if callback is not None:
        callback.status, callback.agent_id = "dialing", agent_id
        callback.attempts += 1
        set_interaction(r, entry_id, callback_id=callback.id)


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
    # From the events: this runs in the status callback that ended the leg, before the call is re-derived.
    if record is not None and calls.current_values(session, record).get("answered_at") is not None:
        callback.status = "completed"
    elif callback.attempts < CALLBACK_MAX_ATTEMPTS:
        # Nobody answered: try again later, up to CALLBACK_MAX_ATTEMPTS times.
        callback.status, callback.due_at = "scheduled", utcnow() + CALLBACK_RETRY_DELAY
    else:
        callback.status = "failed"
    session.commit()
