"""Routing: put callers in line with a CRM-decided priority, offer them to the right agent, handle the answer.

The flow the inbound edge drives:

    enqueue_call(...)          caller joins a queue (priority from the CRM, sticky agent from the call history);
                               offers are made at once when an agent is free
    accept_offer / reject_offer  the agent's answer to an offer ("offer.created" event)
    finish_call(...)           the call ended (abandoned while waiting, hung up while ringing, or after talking)
    request_callback(...)      a waiting caller asks to be called back without losing their place
    dispatch(...)              offer waiting entries to free agents; call it after an agent becomes available
    tick(...)                  every second from a worker: expired offers ("missed"), wrap-up timers, lost sockets,
                               sticky waits that ran out, then dispatch

Language: a caller who chose a language in the IVR ("zh_Hans") needs an agent with the skill named
`language:zh_Hans` (any level) when the floor has that skill; a floor that declares no skill for a language (an
English-only floor, or callers with no language at all) routes those calls as before. The skill is one more per-call
requirement in the ACD, beside the queue's own skills.

Policy: a rejected offer puts the call back in its place and the agent back to available at the END of the
idle line, and the call is tried with other agents first. An offer that times out sets the agent away with
reason "missed" (they are probably not at their desk) and the call is offered to someone else.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import redis
from sqlalchemy import select
from sqlalchemy.orm import Session

from callcenter.i18n_caller import caller_locale
from callcenter.models import Skill
from callcenter.services import acd, agent_state, config_cache, queues, routing_trace
from callcenter.services.acd import Finished, QueueConfig, QueueEntry
from callcenter.services.errors import Conflict, NotFound, ValidationFailed
from callcenter.services.events import publish, publish_after_commit
from callcenter.services.messages import t
from callcenter.services.phones import to_e164
from callcenter.services.priority import (
    RULES,
    CallerFacts,
    PriorityDecision,
    caller_facts,
    compute_priority,
    last_agent_for,
    priority_from_facts,
    rule_weight,
    segment_rules,
)


@dataclass(frozen=True)
class Offer:
    """A call reserved for an agent until `expires_at`: push the screen-pop and ring the agent now."""

    call_sid: str  # the ACD entry id (the CallSid, or the callback entry id when `callback`)
    agent_id: int
    queue_id: int
    expires_at: float
    priority: int
    callback: bool
    payload: dict[str, Any]
    from_number: str | None
    contact_id: int | None

    @classmethod
    def from_reservation(cls, reservation: acd.Reservation) -> Offer:
        entry = reservation.entry
        return cls(
            call_sid=entry.entry_id,
            agent_id=reservation.agent_id,
            queue_id=entry.queue_id,
            expires_at=reservation.expires_at,
            priority=entry.priority,
            callback=entry.callback,
            payload=entry.payload,
            from_number=entry.from_number,
            contact_id=entry.contact_id,
        )


def _now(now: float | None) -> float:
    return time.time() if now is None else float(now)


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat()


# --- Queue configuration ---------------------------------------------------------------------------------------


def sync_queue(session: Session, r: redis.Redis, queue_id: int) -> QueueConfig:
    """Store a queue's requirements and timers in Redis, where the ACD's scripts read them."""
    queue = queues.queue_snapshot(session, queue_id)
    if queue is None:
        raise NotFound(t('Queue %(queue_id)s not found', queue_id=queue_id), field="queue_id")
    config = _config_of(queue)
    acd.store_queue_config(r, config)
    return config


def _config_of(queue: queues.QueueSnapshot) -> QueueConfig:
    return QueueConfig(
        queue_id=queue.id,
        skills=dict(queue.skills),
        reservation_timeout_seconds=queue.reservation_timeout_seconds,
        wrap_up_seconds=queue.wrap_up_seconds,
        sticky_agent_wait_seconds=queue.sticky_agent_wait_seconds,
        active=queue.active,
    )


def queue_config(session: Session, r: redis.Redis, queue_id: int) -> QueueConfig:
    """The queue's routing config, made sure to be in Redis as the process's snapshot says.

    Redis is written only when its copy differs (a first call, or an edit dropped the snapshot), so a call costs
    one GET here, not a database read and a write.
    """
    queue = queues.queue_snapshot(session, queue_id)
    if queue is None:
        raise NotFound(t('Queue %(queue_id)s not found', queue_id=queue_id), field="queue_id")
    config = _config_of(queue)
    if acd.load_queue_config(r, queue_id) != config:
        acd.store_queue_config(r, config)
    return config


# --- Languages -------------------------------------------------------------------------------------------------

LANGUAGE_SKILL_PREFIX = "language:"


def language_skill_name(locale: str) -> str:
    """The skill an agent needs to take calls in `locale`: "zh_Hans" -> "language:zh_Hans"."""
    return f"{LANGUAGE_SKILL_PREFIX}{locale}"


def language_skill_ids(session: Session) -> dict[str, int]:
    """{locale: skill id} of every `language:` skill the floor declares (a process snapshot: read per call)."""
    def load() -> dict[str, int]:
        rows = session.execute(select(Skill.name, Skill.id).where(Skill.name.like(f"{LANGUAGE_SKILL_PREFIX}%")))
        return {name[len(LANGUAGE_SKILL_PREFIX):]: skill_id for name, skill_id in rows}

    return config_cache.cache.get(config_cache.SKILLS, "languages", load)


def language_requirement(session: Session, language: str | None) -> dict[int, int]:
    """{skill id: 1} for a call in `language` (a locale or tag) when the floor has that language's skill, else {}."""
    locale = caller_locale(language)
    skill_id = language_skill_ids(session).get(locale) if locale else None
    return {skill_id: 1} if skill_id is not None else {}


config_cache.watch(Skill, config_cache.SKILLS)


# --- Entering the queue ----------------------------------------------------------------------------------------


CALLER_FACTS_SECONDS = 3600  # a call's CRM facts are kept this long for its (re)queueing


def caller_facts_key(call_sid: str) -> str:
    """Where learn_caller keeps a call's caller facts (a step that reads Redis anyway may read them along)."""
    return f"cc:call:{call_sid}:caller_facts"


def stored_caller_facts(raw: bytes | str | None) -> CallerFacts | None:
    """The caller facts as learn_caller stored them (None: not stored, or unreadable: work them out again)."""
    if raw is None:
        return None
    try:
        return CallerFacts.from_json(json.loads(raw))
    except (ValueError, TypeError, AttributeError):
        return None


def learn_caller(session: Session, r: redis.Redis, call_sid: str, from_number: str | None,
                 now: datetime | None = None) -> CallerFacts:
    """Work out what the CRM says about a call's caller and keep it in Redis for the call's routing.

    Started by a job when the call is greeted, so that by the time the caller has chosen from the menu, joining
    the queue needs no CRM query. `from_number` is E.164 (None: anonymous)."""
    facts = caller_facts(session, from_number, now=now, exclude_call_sid=call_sid)
    r.set(caller_facts_key(call_sid), json.dumps(facts.to_json()), ex=CALLER_FACTS_SECONDS)
    return facts


def known_caller_facts(session: Session, r: redis.Redis, call_sid: str, from_number: str | None,
                       now: datetime) -> CallerFacts:
    """The call's caller facts as learnt at the greeting, or worked out now when that job has not run yet."""
    facts = stored_caller_facts(r.get(caller_facts_key(call_sid)))
    return facts if facts is not None else learn_caller(session, r, call_sid, from_number, now)


@dataclass(frozen=True)
class Enqueued:
    entry: QueueEntry
    decision: PriorityDecision
    position: int | None  # 1-based among waiting entries; None when offered at once
    created: bool  # False when the call was already in the ACD (a retried webhook)
    offers: list[Offer] = field(default_factory=list)
    read_along: dict[str, Any] = field(default_factory=dict)  # the `read_along` keys' values, read with the entry


def enqueue_call(
    session: Session,
    r: redis.Redis,
    *,
    call_sid: str,
    queue_id: int,
    from_number: str | None,
    contact_ids: Sequence[int] | None = None,
    payload: dict[str, Any] | None = None,
    skills: dict[int, int] | None = None,
    now: float | None = None,
    priority_boost: int = 0,
    language: str | None = None,
    read_along: Sequence[str] = (),
    commit: bool = True,
    facts: CallerFacts | None = None,
) -> Enqueued:
    """Put a caller in a queue with their CRM priority and sticky agent, then offer at once if someone is free.

    `from_number` is E.164 (None for anonymous callers); `contact_ids` the matched contacts (looked up by
    number when None); `skills` optional extra {skill_id: min_level} for this call (e.g. a language from the
    IVR); `payload` is JSON kept with the entry and handed to the agent with the offer (IVR choices etc.);
    `priority_boost` is added to the CRM priority (an IVR route can mark a line as more urgent); `language` is the
    caller's chosen language (locale "zh_Hans" or tag "zh-CN"): it adds the `language:` skill requirement and
    goes to the pop as `caller_language`. `read_along`: Redis keys the caller needs too, read in the same round
    trip as the entry (their values in `Enqueued.read_along`). `commit=False`: the offers made at once wait for the
    caller's commit (their events and jobs with it). `facts`: the caller facts when the caller has read them
    already (None: read here, or worked out). Idempotent on `call_sid`.
    """
    now = _now(now)
    locale = caller_locale(language)
    required = dict(skills or {})
    for skill_id, level in language_requirement(session, locale).items():
        required[skill_id] = max(level, required.get(skill_id, 0))
    payload = {**(payload or {}), "caller_language": locale}
    queue = queues.queue_snapshot(session, queue_id)
    if queue is None:
        raise NotFound(t('Queue %(queue_id)s not found', queue_id=queue_id), field="queue_id")
    if not queue.active:
        raise Conflict(t('Queue %(name)s is not taking calls', name=queue.name), field="queue_id")
    config = _config_of(queue)  # stored by the enqueue script where Redis's copy differs
    when = datetime.fromtimestamp(now, UTC)
    if contact_ids is None:
        facts = facts or known_caller_facts(session, r, call_sid, from_number, when)
        decision, sticky = priority_from_facts(queue, facts), facts.last_agent_id
    else:
        decision = compute_priority(session, queue, from_number=from_number, contact_ids=contact_ids, now=when,
                                    exclude_call_sid=call_sid)
        sticky = last_agent_for(session, decision.contact_ids, from_number, exclude_call_sid=call_sid)
    priority = decision.priority + priority_boost
    joined = acd.join(
        r,
        entry_id=call_sid,
        queue_id=queue_id,
        priority=priority,
        enqueued_at=now,
        from_number=from_number,
        contact_id=decision.contact_ids[0] if decision.contact_ids else None,
        skills=required,
        payload=payload,
        sticky_agent_id=sticky,
        sticky_until=now + config.sticky_agent_wait_seconds if sticky else None,
        reasons=decision.reasons,
        language=locale,
        config=config,
        read_along=read_along,
        trace=routing_trace.queued_record(
            call_sid=call_sid, queue_id=queue_id, queue_name=queue.name, at=now, priority=priority,
            base_priority=int(queue.base_priority or 0), boost=priority_boost,
            reasons={rule: rule_weight(queue, rule) for rule in decision.reasons}, sticky_agent_id=sticky,
            sticky_wait_seconds=config.sticky_agent_wait_seconds,
            required={**config.skills, **{k: max(v, config.skills.get(k, 0)) for k, v in required.items()}},
            language=locale, ivr_path=payload.get("ivr_path"), requeued=bool(payload.get("requeued"))),
    )
    return _placed(session, r, joined, decision, call_sid=call_sid, queue_id=queue_id, now=now,
                   read_along=read_along, commit=commit)


def enqueue_from_walk(
    session: Session,
    r: redis.Redis,
    *,
    call_sid: str,
    queue: queues.QueueSnapshot,
    walk_key: str,
    step_field: str | None,
    step_value: str,
    walk_seconds: int,
    payload: dict[str, Any],
    now: float,
    priority_boost: int = 0,
    read_along: Sequence[str] = (),
    commit: bool = True,
) -> tuple[acd.WalkJoined, Enqueued] | None:
    """`enqueue_call` for a menu step, in one round trip: the step joins the call's walk (services.caller_steps)
    and the caller joins `queue` with what the walk and the caller facts learnt at the greeting say: the same
    priority, sticky agent, contact, language and IVR path. None, having joined nothing, while they cannot say it
    (the greeting's job has not run): the step reads them, then calls `enqueue_call`."""
    config = _config_of(queue)
    rules = (*RULES, *segment_rules(queue))
    walked = acd.join_from_walk(
        r, walk_key=walk_key, facts_key=caller_facts_key(call_sid), entry_id=call_sid, queue_id=queue.id,
        enqueued_at=now, step_field=step_field, step_value=step_value, walk_seconds=walk_seconds,
        base_priority=int(queue.base_priority or 0) + priority_boost,
        rule_weights=[(rule, weight) for rule in rules if (weight := rule_weight(queue, rule))],
        sticky_wait_seconds=config.sticky_agent_wait_seconds, language_skills=language_skill_ids(session),
        config=config, payload=payload, trace=_trace_without_decision(routing_trace.queued_record(
            call_sid=call_sid, queue_id=queue.id, queue_name=queue.name, at=now, priority=0,
            base_priority=int(queue.base_priority or 0), boost=priority_boost, reasons={}, sticky_agent_id=None,
            sticky_wait_seconds=0, required={}, language=None, ivr_path=None)),
        read_along=read_along)
    if walked is None:
        return None
    decision = PriorityDecision(walked.priority - priority_boost, walked.reasons, walked.contact_ids)
    return walked, _placed(session, r, walked.joined, decision, call_sid=call_sid, queue_id=queue.id, now=now,
                           read_along=read_along, commit=commit)


# The routing-trace fields join_from_walk decides (from the walk and the facts) and adds to the record.
_DECIDED_IN_REDIS = ("priority", "reasons", "sticky_agent_id", "sticky_wait_seconds", "required", "language",
                     "ivr_path")


def _trace_without_decision(record: dict[str, Any]) -> dict[str, Any]:
    return {name: value for name, value in record.items() if name not in _DECIDED_IN_REDIS}


def _placed(session: Session, r: redis.Redis, joined: acd.Joined, decision: PriorityDecision, *, call_sid: str,
            queue_id: int, now: float, read_along: Sequence[str], commit: bool) -> Enqueued:
    """After a caller joined a queue: the offer made at once if someone is free, the queue's new figures."""
    created = joined.created
    offers: list[Offer] = []
    if created:
        routing_trace.flush_later(session)
        if joined.anyone_free:
            offers = dispatch(session, r, now, [queue_id], configured=True, until_offered=call_sid, announce=False,
                              commit=commit)
        elif commit:  # as dispatch would have, finding nobody free
            session.commit()
    # The answer (entry, position, what the caller reads along) and the queue's new figures came with the join;
    # offers made since change them, and cost one more round trip.
    entry, position, stats, read = joined.entry, joined.position, joined.stats, joined.read_along
    if offers:
        entry, position, stats, read = acd.entry_position_and_stats(r, call_sid, queue_id, now, read_along)
    if created and stats is not None:
        _announce_queue(stats)
    if entry is None:  # ended by a concurrent finish_call between the two steps
        raise Conflict(t('Call %(call_sid)s left the queue', call_sid=call_sid), field="call_sid")
    return Enqueued(entry=entry, decision=decision, position=position, created=created, offers=offers,
                    read_along=read)


def request_callback(
    session: Session, r: redis.Redis, call_sid: str, phone: str, now: float | None = None,
    payload: dict[str, Any] | None = None,
) -> QueueEntry:
    """Turn a waiting call into a callback entry that keeps its place (enqueue time and priority).

    The entry id is "cb-{call_sid}"; its payload says {"kind": "callback", "phone": ...}. One open callback per
    number and queue: a second request raises Conflict. The caller's own entry leaves the queue.
    """
    now = _now(now)
    e164 = to_e164(phone)
    entry_payload = {**(payload or {}), "kind": "callback", "phone": e164, "original_call_sid": call_sid}
    entry = acd.convert_to_callback(r, call_sid, new_entry_id=f"cb-{call_sid}", phone_e164=e164,
                                    payload=entry_payload, now=now)
    publish("queue.callback_created", queue_id=entry.queue_id, entry_id=entry.entry_id, phone=e164,
            original_call_sid=call_sid, enqueued_at=_iso(entry.enqueued_at))
    _queue_changed(r, entry.queue_id, now)
    return entry


def enqueue_callback(
    session: Session,
    r: redis.Redis,
    *,
    entry_id: str,
    queue_id: int,
    phone: str,
    priority: int,
    enqueued_at: float,
    contact_id: int | None = None,
    payload: dict[str, Any] | None = None,
    now: float | None = None,
    language: str | None = None,
    owner_id: int | None = None,
    owner_until: float | None = None,
) -> bool:
    """Put a callback straight into a queue at `enqueued_at` (e.g. restoring it from the callbacks table).

    `language` (the caller's chosen one) requires its `language:` skill, as for a call. `owner_id`: the agent it is
    offered to first; until `owner_until` nobody else gets it while they are logged in (the ACD's sticky agent).
    Returns False when `entry_id` is already queued; Conflict when the number has another open callback there.
    """
    now = _now(now)
    locale = caller_locale(language)
    e164 = to_e164(phone)
    if enqueued_at > now:
        raise ValidationFailed(t('A callback cannot be enqueued in the future'), field="enqueued_at")
    queue_config(session, r, queue_id)
    created = acd.enqueue(
        r, entry_id=entry_id, queue_id=queue_id, priority=priority, enqueued_at=enqueued_at, from_number=e164,
        contact_id=contact_id,
        payload={**(payload or {}), "kind": "callback", "phone": e164, "caller_language": locale},
        callback_phone=e164, skills=language_requirement(session, locale) or None, language=locale,
        sticky_agent_id=owner_id, sticky_until=owner_until if owner_id is not None else None,
    )
    if created:
        _queue_changed(r, queue_id, now)
        dispatch(session, r, now, [queue_id])
    return created


# --- Offering --------------------------------------------------------------------------------------------------


def reserve_next(r: redis.Redis, queue_ids: Sequence[int], now: float) -> Offer | None:
    """The hot path, Redis only: atomically reserve the best waiting entry for the best agent, if any.

    Safe from any number of processes at once. Callers normally use `dispatch`, which also persists the state
    log and publishes events.
    """
    reservation = acd.reserve_next(r, list(queue_ids), now)
    return Offer.from_reservation(reservation) if reservation else None


def dispatch(
    session: Session, r: redis.Redis, now: float | None = None, queue_ids: Sequence[int] | None = None,
    *, configured: bool = False, until_offered: str | None = None, announce: bool = True, commit: bool = True,
) -> list[Offer]:
    """Make every offer possible now (each one reserves a distinct agent and a distinct call).

    `configured`: the caller has just made sure `queue_ids`' routing config is in Redis (saves a round trip each).
    `until_offered`: the entry that just joined a queue; once it is offered, stop. No agent became free, so any
    other offer was already possible before it came and was made then (the ticker catches what time makes
    possible), and asking once more would be a round trip that finds nothing. `announce=False`: the caller
    publishes the queues' figures itself. `commit=False`: the caller commits (the offers' events and jobs wait for
    its commit), so a webhook's work is one transaction, not two."""
    now = _now(now)
    if queue_ids is None:
        queue_ids = acd.configured_queue_ids(r)
    elif not configured:
        for queue_id in queue_ids:
            queue_config(session, r, queue_id)
    offers = []
    while (offer := reserve_next(r, queue_ids, now)) is not None:
        offers.append(offer)
        if offer.call_sid == until_offered:
            break
    if offers:
        agent_state.flush_log_later(session)
        routing_trace.flush_later(session)  # the reserve script traced each offer
    for offer in offers:
        # Its handlers build the pop with the database: they run after this commit, in their own transaction.
        publish_after_commit(
            session, "offer.created", agent_id=offer.agent_id, call_sid=offer.call_sid, queue_id=offer.queue_id,
            expires_at=_iso(offer.expires_at), priority=offer.priority, callback=offer.callback,
            from_number=offer.from_number, contact_id=offer.contact_id, payload=offer.payload)
    if commit:
        session.commit()
    if announce:
        for queue_id in sorted({o.queue_id for o in offers}):
            _queue_changed(r, queue_id, now)
    return offers


def accept_offer(
    session: Session, r: redis.Redis, agent_id: int, call_sid: str, now: float | None = None
) -> QueueEntry:
    """The agent takes the offered call: agent on call, call out of the queue. Conflict if the offer is gone."""
    now = _now(now)
    accepted = acd.accept_reading(r, agent_id, call_sid, now)
    if accepted is None:
        raise Conflict(t('This offer is no longer valid (timed out, taken back or the caller hung up)'),
                       field="call_sid")
    entry, stats = accepted
    agent_state.flush_log_later(session)  # the accept logged the agent's move to on_call
    session.commit()
    publish("offer.accepted", agent_id=agent_id, call_sid=call_sid, queue_id=entry.queue_id, at=_iso(now))
    _announce_queue(stats)
    return entry


def reject_offer(
    session: Session, r: redis.Redis, agent_id: int, call_sid: str, now: float | None = None
) -> list[Offer]:
    """The agent declines: the call goes back to its place and is offered again (others first)."""
    now = _now(now)
    released = acd.release(r, call_sid, now, "rejected", agent_id=agent_id)
    if released is None:
        raise Conflict(t('This offer is no longer valid (timed out, taken back or the caller hung up)'),
                       field="call_sid")
    _state_changed(session, r)
    publish("offer.rejected", agent_id=agent_id, call_sid=call_sid, queue_id=released.queue_id, at=_iso(now))
    _queue_changed(r, released.queue_id, now)
    return dispatch(session, r, now)


@dataclass(frozen=True)
class ExpiredOffer:
    call_sid: str
    agent_id: int | None  # now away with reason "missed"
    queue_id: int


def expire_reservations(session: Session, r: redis.Redis, now: float | None = None) -> list[ExpiredOffer]:
    """Offers nobody answered in time: agent away ("missed"), call back at its original place.

    Re-offering is left to `dispatch` (tick does both), so one sweep can expire many offers first.
    """
    now = _now(now)
    expired = []
    for call_sid in acd.due_reservations(r, now):
        released = acd.release(r, call_sid, now, "missed")
        if released is not None:
            expired.append(ExpiredOffer(call_sid=call_sid, agent_id=released.agent_id, queue_id=released.queue_id))
    _state_changed(session, r)
    for item in expired:
        publish("offer.expired", agent_id=item.agent_id, call_sid=item.call_sid, queue_id=item.queue_id,
                at=_iso(now))
    for queue_id in sorted({e.queue_id for e in expired}):
        _queue_changed(r, queue_id, now)
    return expired


def finish_call(session: Session, r: redis.Redis, call_sid: str, now: float | None = None) -> Finished | None:
    """The call is over: it leaves the ACD whatever its stage, and its agent moves on.

    Waiting → removed (abandoned). Being offered → the agent is freed with their idle place kept
    ("offer.cancelled"). Connected → the agent goes to wrap-up for the queue's wrap-up time (directly to
    available when that is 0). Returns None when the call was not in the ACD (repeated status callbacks).
    """
    now = _now(now)
    finished = acd.finish(r, call_sid, now)
    if finished is None:
        return None
    _state_changed(session, r)
    if finished.status == "reserved" and finished.agent_id is not None:
        publish("offer.cancelled", agent_id=finished.agent_id, call_sid=call_sid, queue_id=finished.queue_id,
                at=_iso(now))
    _queue_changed(r, finished.queue_id, now)
    if finished.agent_state == agent_state.AVAILABLE:
        dispatch(session, r, now)
    return finished


def transfer_call(session: Session, r: redis.Redis, call_sid: str, from_agent_id: int, to_agent_id: int,
                  now: float | None = None) -> None:
    """A warm transfer completed: the second agent now has the call, the first goes to wrap-up."""
    now = _now(now)
    outcome = acd.transfer(r, call_sid, from_agent_id, to_agent_id, now)
    if outcome == "not_connected":
        raise Conflict(t('The call is not connected to the transferring agent'), field="call_sid")
    if outcome == "busy":
        raise Conflict(t('The target agent is busy with another call'), field="agent_id")
    _state_changed(session, r)
    publish("call.transferred", call_sid=call_sid, from_agent_id=from_agent_id, to_agent_id=to_agent_id,
            at=_iso(now))


def current_offer(r: redis.Redis, agent_id: int) -> Offer | None:
    """The offer an agent holds now (to restore the console after a reconnect)."""
    presence = agent_state.get_presence(r, agent_id)
    if not presence.reservation:
        return None
    entry = acd.get_entry(r, presence.reservation)
    if entry is None or entry.status != "reserved" or entry.agent_id != agent_id or entry.expires_at is None:
        return None
    return Offer.from_reservation(acd.Reservation(entry=entry, agent_id=agent_id, expires_at=entry.expires_at))


# --- Housekeeping ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TickResult:
    expired: list[ExpiredOffer]
    wrap_ups_ended: list[int]
    disconnected: list[agent_state.DisconnectOutcome]
    offers: list[Offer]


def tick(
    session: Session,
    r: redis.Redis,
    now: float | None = None,
    disconnect_grace_seconds: float = agent_state.DEFAULT_DISCONNECT_GRACE_SECONDS,
) -> TickResult:
    """One housekeeping pass (run every second by a worker): timeouts first, then new offers."""
    now = _now(now)
    expired = expire_reservations(session, r, now)
    wrap_ups = agent_state.end_expired_wrapups(session, r, now)
    lost = agent_state.expire_disconnected(session, r, now, disconnect_grace_seconds)
    for outcome in lost:
        if outcome.released_call_sid:
            publish("offer.cancelled", agent_id=outcome.agent_id, call_sid=outcome.released_call_sid, at=_iso(now))
    offers = dispatch(session, r, now)
    return TickResult(expired=expired, wrap_ups_ended=wrap_ups, disconnected=lost, offers=offers)


def _state_changed(session: Session, r: redis.Redis) -> None:
    """The ACD logged agent transitions in Redis: a job persists them (and pushes them) after this commit.

    Commits (as `flush_log` did here before): the caller's changes so far go with it.
    """
    if agent_state.has_unflushed(r):
        agent_state.flush_log_later(session)
    session.commit()


def _queue_changed(r: redis.Redis, queue_id: int, now: float) -> None:
    _announce_queue(acd.queue_stats(r, queue_id, now))


def _announce_queue(stats: acd.QueueStats) -> None:
    publish("queue.changed", queue_id=stats.queue_id, waiting=stats.waiting, in_queue=stats.in_queue,
            longest_wait=round(stats.longest_wait, 1))
