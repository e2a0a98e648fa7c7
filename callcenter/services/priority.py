"""A caller's place in line, decided from the CRM: VIP contact or account, an open urgent ticket, a repeat call.

Each queue says how much each fact is worth (`queues.priority_rules`) on top of its `base_priority`; a rule
missing from the queue's rules counts for nothing. The reasons are kept with the queue entry so agents and
supervisors can see why a caller jumped the line.

A queue may also raise a customer segment (services.rfm): the rule `segment:<name>` ("segment:champions": 8)
holds when any of the caller's contacts is in that segment at the last RFM pass.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session

from callcenter.models import Account, Call, Contact, ContactPhone, Queue, Ticket, utcnow
from callcenter.services import rfm
from callcenter.services.queues import QueueSnapshot

RULES = ("vip", "open_urgent_ticket", "repeat_caller_24h")
SEGMENT_RULE = "segment:"  # + a segment name (services.rfm.SEGMENTS)
REPEAT_WINDOW = timedelta(hours=24)
OPEN_TICKET_STATUSES = ("new", "open", "pending")


@dataclass(frozen=True)
class PriorityDecision:
    priority: int
    reasons: tuple[str, ...]  # the rules that applied, in RULES order
    contact_ids: tuple[int, ...]


def rule_weight(queue: Queue | QueueSnapshot, rule: str) -> int:
    """The queue's weight for a rule; malformed or missing weights count as 0 rather than breaking routing."""
    try:
        return int((queue.priority_rules or {}).get(rule, 0) or 0)
    except (TypeError, ValueError):
        return 0


def segment_rules(queue: Queue | QueueSnapshot) -> list[str]:
    """The queue's `segment:<name>` rules for known segments, in the segments' order (after RULES)."""
    rules = queue.priority_rules or {}
    return [SEGMENT_RULE + name for name in rfm.SEGMENTS if SEGMENT_RULE + name in rules]


def segment_holds(session: Session, contact_ids: Sequence[int]) -> set[str]:
    """The `segment:<name>` rules true for a caller: the stored segments of their contacts."""
    return {SEGMENT_RULE + segment for segment in rfm.segments_of(session, contact_ids).values()}


def _known_rule(rule: str) -> bool:
    return rule in RULES or (rule.startswith(SEGMENT_RULE) and rule[len(SEGMENT_RULE):] in rfm.SEGMENTS)


def is_vip(session: Session, contact_ids: Sequence[int]) -> bool:
    """True when any of the contacts, or the account of any of them, is a VIP."""
    if not contact_ids:
        return False
    found = session.scalar(
        select(Contact.id)
        .outerjoin(Account, Contact.account_id == Account.id)
        .where(Contact.id.in_(contact_ids), or_(Contact.vip.is_(True), Account.vip.is_(True)))
        .limit(1)
    )
    return found is not None


def has_open_urgent_ticket(session: Session, contact_ids: Sequence[int]) -> bool:
    if not contact_ids:
        return False
    found = session.scalar(
        select(Ticket.id)
        .where(
            Ticket.contact_id.in_(contact_ids),
            Ticket.status.in_(OPEN_TICKET_STATUSES),
            Ticket.priority == "urgent",
        )
        .limit(1)
    )
    return found is not None


def is_repeat_caller(session: Session, from_number: str | None, now: datetime, exclude_call_sid: str | None) -> bool:
    """Another inbound call from the same E.164 number in the 24 hours before `now`."""
    if not from_number:
        return False
    cutoff = now - REPEAT_WINDOW
    when = or_(
        and_(Call.started_at.is_not(None), Call.started_at >= cutoff, Call.started_at <= now),
        and_(Call.started_at.is_(None), Call.created_at >= cutoff, Call.created_at <= now),
    )
    query = select(Call.id).where(Call.direction == "inbound", Call.from_number == from_number, when)
    if exclude_call_sid:
        query = query.where(Call.call_sid != exclude_call_sid)
    return session.scalar(query.limit(1)) is not None


def compute_priority(
    session: Session,
    queue: Queue | QueueSnapshot,
    *,
    from_number: str | None = None,
    contact_ids: Sequence[int] | None = None,
    now: datetime | None = None,
    exclude_call_sid: str | None = None,
) -> PriorityDecision:
    """Priority for a caller in `queue`: base priority plus the weight of every CRM fact that holds.

    `contact_ids` are the contacts the caller was matched to; when None they are looked up by `from_number`
    (E.164). `exclude_call_sid` is the current call, so it does not make its own caller a repeat caller.
    """
    now = now or utcnow()
    if contact_ids is None:
        contact_ids = contact_ids_for_number(session, from_number) if from_number else []
    ids = tuple(dict.fromkeys(int(i) for i in contact_ids))
    facts = {
        "vip": lambda: is_vip(session, ids),
        "open_urgent_ticket": lambda: has_open_urgent_ticket(session, ids),
        "repeat_caller_24h": lambda: is_repeat_caller(session, from_number, now, exclude_call_sid),
    }
    segments: set[str] | None = None

    def in_segment(rule: str) -> bool:
        nonlocal segments
        if segments is None:
            segments = segment_holds(session, ids)
        return rule in segments

    priority = int(queue.base_priority or 0)
    reasons = []
    for rule in (*RULES, *segment_rules(queue)):
        weight = rule_weight(queue, rule)
        if weight and (facts[rule]() if rule in facts else in_segment(rule)):
            priority += weight
            reasons.append(rule)
    return PriorityDecision(priority=priority, reasons=tuple(reasons), contact_ids=ids)


def contact_ids_for_number(session: Session, e164: str) -> list[int]:
    """The contacts with this number among their phones, oldest first (the caller lookup, ids only)."""
    return list(session.scalars(
        select(ContactPhone.contact_id).where(ContactPhone.e164 == e164).distinct().order_by(ContactPhone.contact_id)
    ))


def last_agent_for(
    session: Session, contact_ids: Sequence[int], from_number: str | None, exclude_call_sid: str | None = None
) -> int | None:
    """The agent who last served this caller (by contact, else by number): the sticky-agent candidate."""
    conditions = []
    if contact_ids:
        conditions.append(Call.contact_id.in_(list(contact_ids)))
    if from_number:
        conditions.append((Call.direction == "inbound") & (Call.from_number == from_number))
        conditions.append((Call.direction != "inbound") & (Call.to_number == from_number))
    if not conditions:
        return None
    query = select(Call.agent_id).where(Call.agent_id.is_not(None), or_(*conditions))
    if exclude_call_sid:
        query = query.where(Call.call_sid != exclude_call_sid)
    when = func.coalesce(Call.agent_answered_at, Call.answered_at, Call.started_at, Call.created_at)
    return session.scalar(query.order_by(when.desc(), Call.id.desc()).limit(1))


@dataclass(frozen=True)
class CallerFacts:
    """What the CRM says about a caller whatever the queue: worked out once per call, off the webhook's path
    (a job started by the greeting), so that joining a queue costs no CRM query."""

    contact_ids: tuple[int, ...]
    holds: frozenset[str]  # the RULES (and `segment:<name>` rules) that are true for this caller
    last_agent_id: int | None

    def to_json(self) -> dict[str, object]:
        return {"contact_ids": list(self.contact_ids), "holds": sorted(self.holds),
                "last_agent_id": self.last_agent_id}

    @classmethod
    def from_json(cls, data: dict) -> CallerFacts:
        last = data.get("last_agent_id")
        return cls(tuple(int(i) for i in data.get("contact_ids") or ()),
                   frozenset(str(r) for r in data.get("holds") or () if _known_rule(str(r))),
                   int(last) if last is not None else None)


def caller_facts(session: Session, from_number: str | None, *, now: datetime | None = None,
                 exclude_call_sid: str | None = None) -> CallerFacts:
    """Every rule's fact and the sticky-agent candidate for a caller (E.164 number; None when anonymous)."""
    now = now or utcnow()
    ids = tuple(contact_ids_for_number(session, from_number)) if from_number else ()
    holds = {rule for rule, fact in (
        ("vip", lambda: is_vip(session, ids)),
        ("open_urgent_ticket", lambda: has_open_urgent_ticket(session, ids)),
        ("repeat_caller_24h", lambda: is_repeat_caller(session, from_number, now, exclude_call_sid)),
    ) if fact()} | segment_holds(session, ids)
    return CallerFacts(ids, frozenset(holds), last_agent_for(session, ids, from_number, exclude_call_sid))


def priority_from_facts(queue: Queue | QueueSnapshot, facts: CallerFacts) -> PriorityDecision:
    """The queue's base priority plus its weight for every fact that holds (what compute_priority decides)."""
    priority = int(queue.base_priority or 0)
    reasons = []
    for rule in (*RULES, *segment_rules(queue)):
        weight = rule_weight(queue, rule)
        if weight and rule in facts.holds:
            priority += weight
            reasons.append(rule)
    return PriorityDecision(priority=priority, reasons=tuple(reasons), contact_ids=facts.contact_ids)
