"""People working with callbacks: see them within their scope, book, reschedule, reassign and cancel them, and
read every dial attempt. A callers' public "call me back" request is booked here too.

An agent sees and changes the callbacks they own, booked or dialled; a supervisor their team's; an admin all
(services.scope). A callback already offered to an agent is taken out of the ACD before it changes, so the queue
never offers a callback that was moved or cancelled. One being dialled cannot change until its attempt ends.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import redis
from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from callcenter.models import Call, Callback, CallbackAttempt, Contact, Queue, User, utcnow
from callcenter.services import acd, audit, contacts, routing, scope
from callcenter.services.callbacks import OPEN_STATUSES, entry_id_of, open_callback_for_number
from callcenter.services.errors import Conflict, NotFound, TooManyAttempts, ValidationFailed
from callcenter.services.messages import t
from callcenter.services.phones import to_e164

STATUSES = ("scheduled", "offered", "dialing", "completed", "failed", "cancelled")
SOURCES = ("caller", "wrap_up", "abandoned", "web", "api")
HORIZON = timedelta(days=366)
CLOCK_SKEW = timedelta(minutes=2)
MAX_NOTES = 2000


@dataclass(frozen=True)
class CallbackFilters:
    """What the callback list and its CSV export are narrowed to (None: any)."""

    status: str | None = None
    queue_id: int | None = None
    owner_id: int | None = None
    source: str | None = None
    phone: str | None = None
    due_from: datetime | None = None
    due_to: datetime | None = None
    open_only: bool = False


def _filtered(actor: User, filters: CallbackFilters) -> Select:
    query = select(Callback).where(scope.callbacks(actor))
    if filters.status:
        query = query.where(Callback.status == filters.status)
    if filters.open_only:
        query = query.where(Callback.status.in_(OPEN_STATUSES))
    if filters.queue_id is not None:
        query = query.where(Callback.queue_id == filters.queue_id)
    if filters.owner_id is not None:
        query = query.where(Callback.owner_id == filters.owner_id)
    if filters.source:
        query = query.where(Callback.source == filters.source)
    if filters.phone:
        digits = "".join(ch for ch in filters.phone if ch.isdigit())
        if digits:
            query = query.where(Callback.phone_e164.contains(digits))
    if filters.due_from is not None:
        query = query.where(Callback.due_at >= filters.due_from)
    if filters.due_to is not None:
        query = query.where(Callback.due_at < filters.due_to)
    return query


def search(session: Session, actor: User, filters: CallbackFilters, *, limit: int | None = 50,
           offset: int = 0) -> tuple[list[Callback], int]:
    """The callbacks `actor` may see that match `filters`, soonest due first, and how many match in all."""
    query = _filtered(actor, filters)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    query = query.order_by(Callback.due_at, Callback.id).offset(offset)
    if limit is not None:
        query = query.limit(limit)
    return list(session.scalars(query)), total


def get(session: Session, actor: User, callback_id: int) -> Callback:
    """One callback `actor` may see (NotFound otherwise, so its existence is not revealed)."""
    callback = session.scalar(select(Callback).where(Callback.id == callback_id, scope.callbacks(actor)))
    if callback is None:
        raise NotFound(t('Callback %(callback_id)s not found', callback_id=callback_id), field="callback_id")
    return callback


def attempts(session: Session, callback_id: int) -> list[CallbackAttempt]:
    """Every dial of a callback, first first (read `get` first: it checks the scope)."""
    return list(session.scalars(select(CallbackAttempt).where(CallbackAttempt.callback_id == callback_id)
                                .order_by(CallbackAttempt.attempt)))


def _check_due(due_at: datetime, now: datetime) -> datetime:
    if due_at.tzinfo is None:
        raise ValidationFailed(t('The callback time needs a time zone'), field="due_at")
    if due_at < now - CLOCK_SKEW:
        raise ValidationFailed(t('The callback time is in the past'), field="due_at")
    if due_at > now + HORIZON:
        raise ValidationFailed(t('A callback is at most a year ahead'), field="due_at")
    return due_at


def _check_queue(session: Session, queue_id: int | None) -> Queue | None:
    if queue_id is None:
        return None
    queue = session.get(Queue, queue_id)
    if queue is None:
        raise NotFound(t('Queue %(queue_id)s not found', queue_id=queue_id), field="queue_id")
    return queue


def _check_owner(session: Session, actor: User, owner_id: int | None) -> None:
    """An owner must be someone the actor may hand work to: themselves, their team (supervisor), anyone (admin)."""
    if owner_id is None:
        return
    owner = session.scalar(select(User).where(User.id == owner_id, scope.users(actor)))
    if owner is None or not owner.active:
        raise ValidationFailed(t('You cannot give a callback to this person'), field="owner_id")


def create(session: Session, actor: User, *, phone: str, due_at: datetime, queue_id: int | None = None,
           owner_id: int | None = None, contact_id: int | None = None, notes: str = "", region: str = "US",
           now: datetime | None = None) -> Callback:
    """Book a callback by hand (API): into a queue and/or for an owner; one open callback per number."""
    now = now or utcnow()
    e164 = to_e164(phone, region, field="phone")
    _check_due(due_at, now)
    _check_queue(session, queue_id)
    _check_owner(session, actor, owner_id)
    if queue_id is None and owner_id is None:
        owner_id = actor.id
    if contact_id is not None and session.scalar(select(Contact.id).where(
            Contact.id == contact_id, scope.contacts(actor))) is None:
        raise NotFound(t('Contact %(contact_id)s not found', contact_id=contact_id), field="contact_id")
    if open_callback_for_number(session, e164) is not None:
        raise Conflict(t('%(phone)s already has an open callback', phone=e164), field="phone")
    callback = Callback(phone_e164=e164, queue_id=queue_id, owner_id=owner_id, contact_id=contact_id,
                        created_by_id=actor.id, requested_at=now, due_at=due_at, status="scheduled",
                        source="api", notes=notes[:MAX_NOTES])
    session.add(callback)
    session.flush()
    audit.record(session, "callback.created", actor_id=actor.id, entity=callback, phone=e164)
    session.commit()
    return callback


def _take_back(session: Session, r: redis.Redis, callback: Callback) -> None:
    """Out of the ACD if it is offered (waiting, or ringing an agent): it goes back to scheduled."""
    if callback.status == "dialing":
        raise Conflict(t('This callback is being dialled; try again when the call ends'), field="status")
    if callback.status != "offered":
        return
    candidates = [entry_id_of(callback)]
    if callback.call_id is not None:
        call_sid = session.scalar(select(Call.call_sid).where(Call.id == callback.call_id))
        if call_sid:
            candidates.append(f"cb-{call_sid}")  # a waiting caller's callback that keeps their place
    for entry_id in candidates:
        entry = acd.get_entry(r, entry_id)
        if entry is None:
            continue
        if entry.status == "connected":
            raise Conflict(t('This callback is being dialled; try again when the call ends'), field="status")
        routing.finish_call(session, r, entry_id)
    callback.status = "scheduled"


def _changeable(callback: Callback) -> None:
    if callback.status not in OPEN_STATUSES:
        raise Conflict(t('This callback is closed (%(status)s)', status=callback.status), field="status")


def reschedule(session: Session, r: redis.Redis, actor: User, callback_id: int, due_at: datetime, *,
               now: datetime | None = None) -> Callback:
    """Move a callback to another time (taken out of its queue if it was already offered)."""
    now = now or utcnow()
    callback = get(session, actor, callback_id)
    _changeable(callback)
    _check_due(due_at, now)
    _take_back(session, r, callback)
    before = callback.due_at
    callback.due_at = due_at
    audit.record(session, "callback.rescheduled", actor_id=actor.id, entity=callback,
                 before=before.isoformat(), after=due_at.isoformat())
    session.commit()
    return callback


def reassign(session: Session, r: redis.Redis, actor: User, callback_id: int, *, owner_id: int | None,
             queue_id: int | None = None, keep_queue: bool = True) -> Callback:
    """Give a callback to another owner (None: nobody, the queue's) and/or queue; offered again from scratch."""
    callback = get(session, actor, callback_id)
    _changeable(callback)
    _check_owner(session, actor, owner_id)
    new_queue = callback.queue_id
    if not keep_queue:
        _check_queue(session, queue_id)
        new_queue = queue_id
    if new_queue is None and owner_id is None:
        raise ValidationFailed(t('A callback needs a queue or an owner'), field="owner_id")
    _take_back(session, r, callback)
    audit.record(session, "callback.reassigned", actor_id=actor.id, entity=callback,
                 before={"owner_id": callback.owner_id, "queue_id": callback.queue_id},
                 after={"owner_id": owner_id, "queue_id": new_queue})
    callback.owner_id, callback.queue_id = owner_id, new_queue
    session.commit()
    return callback


def cancel(session: Session, r: redis.Redis, actor: User, callback_id: int) -> Callback:
    """Nobody will call this number back (taken out of its queue if it was already offered)."""
    callback = get(session, actor, callback_id)
    _changeable(callback)
    _take_back(session, r, callback)
    callback.status = "cancelled"
    audit.record(session, "callback.cancelled", actor_id=actor.id, entity=callback)
    session.commit()
    return callback


def book_web_request(session: Session, *, phone: str, queue_id: int, name: str = "", notes: str = "",
                     region: str = "US", now: datetime | None = None) -> Callback:
    """A caller asked on the public web form to be called back: due now in that queue, one open per number.

    The dialing gate decides when it is released (services.callbacks.release_due_callbacks), as for any other."""
    now = now or utcnow()
    e164 = to_e164(phone, region, field="phone")
    queue = _check_queue(session, queue_id)
    if queue is None or not queue.active:
        raise NotFound(t('Queue %(queue_id)s not found', queue_id=queue_id), field="queue")
    existing = open_callback_for_number(session, e164)
    if existing is not None:
        return existing  # asked twice: still one call
    known = contacts.contacts_for_number(session, e164)
    contact_id = known[0].id if len(known) == 1 else None  # several share the number: the agent picks
    text = "\n".join(part for part in (name.strip()[:100], notes.strip()[:MAX_NOTES]) if part)
    callback = Callback(phone_e164=e164, queue_id=queue.id, contact_id=contact_id, requested_at=now, due_at=now,
                        status="scheduled", source="web", notes=text)
    session.add(callback)
    session.commit()
    return callback


# --- The public "call me back" request ------------------------------------------------------------------------------

REQUESTS_PER_ADDRESS = (5, 3600)  # at most 5 requests an hour from one client address
REQUESTS_PER_NUMBER = (3, 86400)  # and 3 a day for one number


def _count(r: redis.Redis, key: str, limit: int, window: int) -> None:
    """One more request under `key` in its window; TooManyAttempts past `limit` (the counter expires by itself)."""
    with r.pipeline() as pipe:
        pipe.set(key, 0, nx=True, ex=window)  # the window starts with the first request (Redis 6: no EXPIRE NX)
        pipe.incr(key)
        pipe.ttl(key)
        _, count, ttl = pipe.execute()
    if count > limit:
        raise TooManyAttempts(t('Too many callback requests. Try again in %(retry_after)s seconds.',
                                retry_after=max(int(ttl), 1)), retry_after=max(int(ttl), 1))


def request_callback(session: Session, r: redis.Redis, *, client: str, phone: str, queue_id: int, name: str = "",
                     notes: str = "", region: str = "US", now: datetime | None = None) -> Callback:
    """A public web request: counted per client address (even when invalid) and per number, then booked."""
    _count(r, f"cc:callback-request:address:{client}", *REQUESTS_PER_ADDRESS)
    e164 = to_e164(phone, region, field="phone")
    _count(r, f"cc:callback-request:number:{e164}", *REQUESTS_PER_NUMBER)
    return book_web_request(session, phone=e164, queue_id=queue_id, name=name, notes=notes, region=region, now=now)
