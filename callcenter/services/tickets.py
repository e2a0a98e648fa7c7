"""The service desk: a ticket's workflow, who has it, its history, its SLA clock and its escalation.

Workflow `new -> open -> pending -> resolved -> closed`, with the moves in `TRANSITIONS` and no others: `new` is a
ticket nobody has worked yet, `closed` is final. A resolved ticket is reopened (back to `open`, with a fresh SLA
clock) when its contact calls again or leaves a message within `TicketPolicy.reopen_days` of the resolution.

Every change (creation, status, assignment, priority, note, escalation, reopening) is a `TicketEvent` row — the
ticket's timeline — and an audit entry. The first response is the first status change out of `new` or the first
note by a person.

SLA: `first_response_due_at` and `due_at` come from the account's service agreement counted in the team's business
hours (services.service_agreements). Escalation follows the resolution target: level 1 at `warn_share` of it warns
the assignee, level 2 at `due_at` hands the ticket to the team's supervisor; a first response not given by its
deadline hands the ticket to the supervisor too. Each level is taken with a conditional UPDATE, so a job run twice
(or two workers at once) escalates once. While a ticket is `pending` (waiting on the customer) its clock stops: it
does not escalate, and leaving `pending` moves its deadlines on by the business minutes it waited.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Select, and_, func, or_, select, update
from sqlalchemy.orm import Session, selectinload

from callcenter.models import (
    Account,
    Call,
    Callback,
    Contact,
    Role,
    Team,
    Ticket,
    TicketEvent,
    User,
    utcnow,
)
from callcenter.models.work import TICKET_PRIORITIES, TICKET_STATUSES
from callcenter.services import audit, scope
from callcenter.services import service_agreements as sla
from callcenter.services.errors import Forbidden, NotFound, ValidationFailed
from callcenter.services.events import publish_after_commit
from callcenter.services.messages import t

STATUSES = TICKET_STATUSES
PRIORITIES = TICKET_PRIORITIES
# The allowed moves; anything else is refused with a message naming both statuses.
TRANSITIONS: dict[str, frozenset[str]] = {
    "new": frozenset({"open", "pending", "resolved"}),
    "open": frozenset({"pending", "resolved"}),
    "pending": frozenset({"open", "resolved"}),
    "resolved": frozenset({"open", "closed"}),
    "closed": frozenset(),
}
ACTIVE_STATUSES = ("new", "open", "pending")
CLOCK_RUNNING = ("new", "open")  # `pending` waits on the customer: its SLA clock is stopped
MAX_SUBJECT = 200
MAX_TEXT = 10_000
WARNED, BREACHED = 1, 2
# A deadline typed in a browser may be a little behind the server clock; and none is set beyond the horizon.
DUE_CLOCK_SKEW = timedelta(minutes=2)
DUE_HORIZON = timedelta(days=5 * 366)


@dataclass(frozen=True)
class TicketPolicy:
    """The settings the desk runs by (TICKET_REOPEN_DAYS, TICKET_WARN_AT, TICKET_DEFAULT_AGREEMENT)."""

    reopen_days: float = 7
    warn_share: float = 0.8
    default_agreement: str | None = None

    @classmethod
    def from_config(cls, config: Any) -> TicketPolicy:
        return cls(reopen_days=float(config.get("TICKET_REOPEN_DAYS", 7)),
                   warn_share=float(config.get("TICKET_WARN_AT", 0.8)),
                   default_agreement=config.get("TICKET_DEFAULT_AGREEMENT") or None)


@dataclass(frozen=True)
class TicketFilters:
    """What the list may be narrowed by; None means "any"."""

    status: str | None = None
    priority: str | None = None
    team_id: int | None = None
    assignee_id: int | None = None
    unassigned: bool = False
    contact_id: int | None = None
    account_id: int | None = None
    breached: bool | None = None
    q: str = ""


@dataclass
class Escalations:
    """What one escalation pass did: ticket ids warned and handed to a supervisor."""

    warned: list[int] = field(default_factory=list)
    reassigned: list[int] = field(default_factory=list)


# --- history ------------------------------------------------------------------------------------------------------


def _record(session: Session, ticket: Ticket, kind: str, *, actor_id: int | None, at: datetime, body: str = "",
            **data: Any) -> TicketEvent:
    """One timeline row and its audit entry, in the caller's transaction."""
    event = TicketEvent(ticket_id=ticket.id, at=at, actor_id=actor_id, kind=kind, body=body, data=data)
    session.add(event)
    audit.record(session, f"ticket.{kind}", actor_id=actor_id, entity=ticket, **data)
    return event


def _is_person(session: Session, user_id: int | None) -> bool:
    return user_id is not None and session.get(User, user_id) is not None


# --- SLA ------------------------------------------------------------------------------------------------------------


def apply_sla(session: Session, ticket: Ticket, start: datetime, policy: TicketPolicy, *,
              keep_due_at: bool = False) -> None:
    """Set the ticket's deadlines from `start` by its account's tier, in its team's calendar (`keep_due_at`: a
    deadline typed by hand stays, and the warning comes the same share of the way to it on the plain clock)."""
    first, resolution = sla.targets_for(session, ticket.account_id, ticket.priority, policy.default_agreement)
    calendar = sla.team_calendar(session, ticket.team_id)
    share = min(max(policy.warn_share, 0.0), 1.0)
    ticket.first_response_due_at = sla.add_business_minutes(calendar, start, first)
    if not keep_due_at:
        ticket.due_at = sla.add_business_minutes(calendar, start, resolution)
        ticket.warn_at = sla.add_business_minutes(calendar, start, resolution * share)
    elif ticket.due_at is not None:
        ticket.warn_at = start + (ticket.due_at - start) * share


def _sla_start(session: Session, ticket: Ticket) -> datetime:
    """When the current SLA clock started: the last reopening, else the creation."""
    reopened = session.scalar(select(func.max(TicketEvent.at)).where(TicketEvent.ticket_id == ticket.id,
                                                                    TicketEvent.kind == "reopened"))
    return reopened or ticket.created_at


def _resume_clock(session: Session, ticket: Ticket, now: datetime) -> None:
    """Move the deadlines still ahead at the pause on by the business minutes the ticket waited on the customer."""
    paused_at, ticket.sla_paused_at = ticket.sla_paused_at, None
    if paused_at is None:
        return
    calendar = sla.team_calendar(session, ticket.team_id)
    waited = sla.business_minutes_between(calendar, paused_at, now)
    if waited <= 0:
        return
    for name in ("warn_at", "due_at", "first_response_due_at"):
        deadline = getattr(ticket, name)
        if deadline is not None and deadline > paused_at:
            setattr(ticket, name, sla.add_business_minutes(calendar, deadline, waited) or deadline)


def _responded(ticket: Ticket, now: datetime) -> None:
    if ticket.first_responded_at is None:
        ticket.first_responded_at = now


# --- creating -----------------------------------------------------------------------------------------------------


def check_subject(subject: str, field_name: str = "subject") -> str:
    subject = (subject or "").strip()
    if not subject:
        raise ValidationFailed(t('A ticket needs a subject'), field=field_name)
    if len(subject) > MAX_SUBJECT:
        raise ValidationFailed(t('A ticket subject is at most 200 characters'), field=field_name)
    return subject


def check_priority(priority: str, field_name: str = "priority") -> str:
    if priority not in PRIORITIES:
        raise ValidationFailed(t('Priority is one of %(value)s', value=", ".join(PRIORITIES)), field=field_name)
    return priority


def opened(session: Session, ticket: Ticket, *, actor_id: int | None, now: datetime, policy: TicketPolicy,
           source: str) -> None:
    """A ticket was just added to the session (at wrap-up, from a voicemail, by hand): give it its SLA deadlines
    and the first line of its history. Flushes; does not commit."""
    if ticket.created_at is None:
        ticket.created_at = now
    if ticket.status is None:
        ticket.status = "new"
    if ticket.account_id is None and ticket.contact_id is not None:
        contact = session.get(Contact, ticket.contact_id)
        ticket.account_id = contact.account_id if contact is not None else None
    session.flush()
    apply_sla(session, ticket, now, policy, keep_due_at=ticket.due_at is not None)
    _record(session, ticket, "created", actor_id=actor_id if _is_person(session, actor_id) else None, at=now,
            source=source, status=ticket.status, priority=ticket.priority, assignee_id=ticket.assignee_id,
            team_id=ticket.team_id, call_id=ticket.call_id)


def _visible_contact(session: Session, actor: User, contact_id: int) -> Contact:
    contact = session.scalar(select(Contact).where(Contact.id == contact_id, scope.contacts(actor)))
    if contact is None:
        raise NotFound(t('Contact %(id)s not found', id=contact_id), field="contact_id")
    return contact


def create_ticket(session: Session, actor: User, *, subject: str, description: str = "", priority: str = "normal",
                  contact_id: int | None = None, account_id: int | None = None, call_id: int | None = None,
                  team_id: int | None = None, assignee_id: int | None = None, due_at: datetime | None = None,
                  policy: TicketPolicy | None = None, now: datetime | None = None) -> Ticket:
    """A ticket entered by hand (console, page, API). Default: assigned to its author in the author's team.

    The contact must be one `actor` may see; a call given must be one of theirs (its contact is then the ticket's
    when none is named); the account defaults to the contact's. Committed.
    """
    now = now or utcnow()
    policy = policy or TicketPolicy()
    subject = check_subject(subject)
    check_priority(priority)
    if len(description or "") > MAX_TEXT:
        raise ValidationFailed(t('A description is at most %(max)s characters', max=MAX_TEXT), field="description")
    if due_at is not None:
        if due_at.tzinfo is None:
            raise ValidationFailed(t('The due time needs a time zone'), field="due_at")
        if due_at < now - DUE_CLOCK_SKEW:
            raise ValidationFailed(t('The due time is in the past'), field="due_at")
        if due_at > now + DUE_HORIZON:
            raise ValidationFailed(t('A due time is at most five years ahead'), field="due_at")
    call = None
    if call_id is not None:
        call = session.scalar(select(Call).where(Call.id == call_id, scope.calls(actor)))
        if call is None:
            raise NotFound(t('Call %(call_sid)s is not known', call_sid=call_id), field="call_id")
        contact_id = contact_id if contact_id is not None else call.contact_id
    contact = _visible_contact(session, actor, contact_id) if contact_id is not None else None
    if account_id is not None:
        if session.scalar(select(Account.id).where(Account.id == account_id, scope.accounts(actor))) is None:
            raise NotFound(t('Account %(id)s not found', id=account_id), field="account_id")
    elif contact is not None:
        account_id = contact.account_id
    if team_id is None and assignee_id is None:
        team_id, assignee_id = actor.team_id, actor.id
    team_id, assignee_id = _check_assignment(session, actor, None, team_id, assignee_id)
    ticket = Ticket(subject=subject, description=description or "", priority=priority, status="new",
                    contact_id=contact.id if contact else None, account_id=account_id,
                    call_id=call.id if call else None, team_id=team_id, assignee_id=assignee_id,
                    created_by_id=actor.id, due_at=due_at, created_at=now)
    session.add(ticket)
    opened(session, ticket, actor_id=actor.id, now=now, policy=policy, source="manual")
    session.commit()
    return ticket


# --- reading --------------------------------------------------------------------------------------------------------


def get_ticket(session: Session, actor: User, ticket_id: int) -> Ticket:
    """One ticket within the actor's scope; otherwise "not found"."""
    ticket = session.scalar(
        select(Ticket).where(Ticket.id == ticket_id, scope.tickets(actor))
        .options(selectinload(Ticket.contact), selectinload(Ticket.account), selectinload(Ticket.assignee),
                 selectinload(Ticket.team)))
    if ticket is None:
        raise NotFound(t('Ticket %(id)s not found', id=ticket_id), field="ticket_id")
    return ticket


def breached_condition(now: datetime):
    """Active tickets past their resolution deadline (a pending one: already at its pause), or past their
    first-response deadline unanswered."""
    return and_(Ticket.status.in_(ACTIVE_STATUSES),
                or_(and_(Ticket.due_at <= now,
                         or_(Ticket.sla_paused_at.is_(None), Ticket.due_at <= Ticket.sla_paused_at)),
                    and_(Ticket.first_responded_at.is_(None), Ticket.first_response_due_at <= now)))


def is_breached(ticket: Ticket, now: datetime) -> bool:
    if ticket.status not in ACTIVE_STATUSES:
        return False
    clock = min(now, ticket.sla_paused_at) if ticket.sla_paused_at is not None else now
    if ticket.due_at is not None and ticket.due_at <= clock:
        return True
    return (ticket.first_responded_at is None and ticket.first_response_due_at is not None
            and ticket.first_response_due_at <= now)


def _filtered(actor: User, filters: TicketFilters, now: datetime) -> Select:
    query = select(Ticket).where(scope.tickets(actor))
    if filters.status:
        query = query.where(Ticket.status == filters.status)
    if filters.priority:
        query = query.where(Ticket.priority == filters.priority)
    if filters.team_id is not None:
        query = query.where(Ticket.team_id == filters.team_id)
    if filters.unassigned:
        query = query.where(Ticket.assignee_id.is_(None))
    elif filters.assignee_id is not None:
        query = query.where(Ticket.assignee_id == filters.assignee_id)
    if filters.contact_id is not None:
        query = query.where(Ticket.contact_id == filters.contact_id)
    if filters.account_id is not None:
        query = query.where(Ticket.account_id == filters.account_id)
    if filters.breached is True:
        query = query.where(breached_condition(now))
    elif filters.breached is False:
        query = query.where(~breached_condition(now))
    text = (filters.q or "").strip().lower()
    if text:
        pattern = "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        query = query.where(or_(func.lower(Ticket.subject).like(pattern, escape="\\"),
                                func.lower(Ticket.description).like(pattern, escape="\\")))
    return query


def search_tickets(session: Session, actor: User, filters: TicketFilters, *, limit: int | None = 25,
                   offset: int = 0, now: datetime | None = None) -> tuple[list[Ticket], int]:
    """Visible tickets matching `filters`, most urgent deadline first, and how many match in all."""
    now = now or utcnow()
    if filters.status and filters.status not in STATUSES:
        raise ValidationFailed(t('Status is one of %(value)s', value=", ".join(STATUSES)), field="status")
    if filters.priority:
        check_priority(filters.priority)
    query = _filtered(actor, filters, now)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    items = session.scalars(
        query.options(selectinload(Ticket.contact), selectinload(Ticket.account), selectinload(Ticket.assignee),
                      selectinload(Ticket.team))
        .order_by(Ticket.due_at.is_(None), Ticket.due_at, Ticket.id.desc()).limit(limit).offset(offset)).all()
    return list(items), total


def ticket_events(session: Session, actor: User, ticket_id: int) -> list[TicketEvent]:
    """The ticket's own history, oldest first."""
    ticket = get_ticket(session, actor, ticket_id)
    return list(session.scalars(select(TicketEvent).where(TicketEvent.ticket_id == ticket.id)
                                .options(selectinload(TicketEvent.actor))
                                .order_by(TicketEvent.at, TicketEvent.id)))


def timeline(session: Session, actor: User, ticket_id: int, limit: int = 100) -> list[dict[str, Any]]:
    """The ticket page's timeline, newest first: its events, plus the calls and callbacks of its contact that the
    actor may see (calls nobody handled, such as a missed call, included)."""
    ticket = get_ticket(session, actor, ticket_id)
    items: list[dict[str, Any]] = []
    events = ticket_events(session, actor, ticket.id)
    named = {e.data.get("assignee_id") for e in events} - {None}
    rows = session.execute(select(User.id, User.full_name).where(User.id.in_(named)))
    names = {row.id: row.full_name for row in rows}
    for event in events:
        items.append({"kind": event.kind, "at": event.at, "actor": event.actor.full_name if event.actor else None,
                      "body": event.body, "data": event.data, "id": event.id,
                      "assignee": names.get(event.data.get("assignee_id"))})
    if ticket.contact_id is not None:
        for call in session.scalars(
                select(Call).where(Call.contact_id == ticket.contact_id, Call.parent_id.is_(None),
                                   or_(scope.calls(actor), Call.agent_id.is_(None)))
                .options(selectinload(Call.agent), selectinload(Call.disposition))
                .order_by(Call.created_at.desc()).limit(limit)):
            items.append({"kind": "call", "at": call.started_at or call.created_at, "id": call.id,
                          "actor": call.agent.full_name if call.agent else None, "body": call.notes or "",
                          "data": {"direction": call.direction, "status": call.status,
                                   "disposition": call.disposition.label if call.disposition else None,
                                   "linked": call.id == ticket.call_id}})
        for callback in session.scalars(
                select(Callback).where(Callback.contact_id == ticket.contact_id,
                                       or_(scope.callbacks(actor), Callback.agent_id.is_(None)))
                .order_by(Callback.created_at.desc()).limit(limit)):
            items.append({"kind": "callback", "at": callback.created_at, "id": callback.id, "actor": None,
                          "body": callback.notes or "",
                          "data": {"status": callback.status, "due_at": callback.due_at.isoformat()}})
    items.sort(key=lambda item: item["at"], reverse=True)
    return items[:limit]


# --- working ------------------------------------------------------------------------------------------------------


def _check_transition(current: str, target: str) -> None:
    if target not in STATUSES:
        raise ValidationFailed(t('Status is one of %(value)s', value=", ".join(STATUSES)), field="status")
    if target not in TRANSITIONS[current]:
        raise ValidationFailed(t('A ticket cannot go from %(current)s to %(target)s', current=current,
                                 target=target), field="status")


def _set_status(session: Session, ticket: Ticket, target: str, *, actor_id: int | None, now: datetime,
                policy: TicketPolicy, kind: str = "status", **data: Any) -> None:
    previous = ticket.status
    ticket.status = target
    if previous == "new":
        _responded(ticket, now)
    if previous == "pending" and target != "pending":
        _resume_clock(session, ticket, now)
    elif target == "pending":
        ticket.sla_paused_at = now
    if target == "resolved":
        ticket.resolved_at = now
    elif target == "open" and previous == "resolved":
        ticket.resolved_at = None
        ticket.escalation_level = 0
        apply_sla(session, ticket, now, policy)
    _record(session, ticket, kind, actor_id=actor_id, at=now, **{"from": previous, "to": target}, **data)


def _check_assignment(session: Session, actor: User, ticket: Ticket | None, team_id: int | None,
                      assignee_id: int | None) -> tuple[int | None, int | None]:
    """The (team, assignee) a ticket may be given by `actor`: the assignee must belong to the team (a team given
    alone keeps no assignee from another team; an assignee given alone brings their team). Agents only take a
    ticket of their own team for themselves, or hand it back to the team."""
    team = session.get(Team, team_id) if team_id is not None else None
    if team_id is not None and team is None:
        raise NotFound(t('Team %(id)s not found', id=team_id), field="team_id")
    assignee = session.get(User, assignee_id) if assignee_id is not None else None
    if assignee_id is not None and (assignee is None or not assignee.active):
        raise NotFound(t('User %(id)s not found', id=assignee_id), field="assignee_id")
    if assignee is not None:
        if team_id is None:
            team_id = assignee.team_id
        elif assignee.team_id != team_id:
            raise ValidationFailed(t('%(name)s is not in that team: a ticket goes to someone of its team',
                                     name=assignee.full_name), field="assignee_id")
    if actor.role == Role.ADMIN.value:
        return team_id, assignee_id
    if actor.role == Role.SUPERVISOR.value:
        if assignee is not None and assignee.team_id != actor.team_id:
            raise Forbidden(t('A supervisor assigns tickets to people of their own team'), field="assignee_id")
        return team_id, assignee_id
    own_team = team_id == actor.team_id  # an agent of no team keeps their own tickets teamless
    if assignee_id not in (None, actor.id) or not own_team or (assignee_id is None and team_id is None):
        raise Forbidden(t('An agent takes a ticket of their team for themselves, or hands it back to the team'),
                        field="assignee_id")
    return team_id, assignee_id


_UNSET: Any = object()


def update_ticket(session: Session, actor: User, ticket_id: int, *, status: str | None = None,
                  priority: str | None = None, subject: str | None = None, description: str | None = None,
                  team_id: int | None = _UNSET, assignee_id: int | None = _UNSET,
                  policy: TicketPolicy | None = None, now: datetime | None = None) -> Ticket:
    """Change what is given, all or nothing, each change a timeline row; committed.

    `team_id`/`assignee_id` left out keep the assignment; given (even as None) they reassign: None as the assignee
    hands the ticket back to its team, None as both undispatches it.
    """
    now = now or utcnow()
    policy = policy or TicketPolicy()
    ticket = get_ticket(session, actor, ticket_id)
    if status is not None and status != ticket.status:
        _check_transition(ticket.status, status)
    if priority is not None:
        check_priority(priority)
    if subject is not None:
        subject = check_subject(subject)
    if description is not None and len(description) > MAX_TEXT:
        raise ValidationFailed(t('A description is at most %(max)s characters', max=MAX_TEXT), field="description")
    reassign = team_id is not _UNSET or assignee_id is not _UNSET
    if reassign:
        new_team = ticket.team_id if team_id is _UNSET else team_id
        new_assignee = ticket.assignee_id if assignee_id is _UNSET else assignee_id
        if team_id is not _UNSET and assignee_id is _UNSET and new_team != ticket.team_id:
            new_assignee = None  # dispatched to another team: its supervisor or an agent of it picks it up
        new_team, new_assignee = _check_assignment(session, actor, ticket, new_team, new_assignee)
    if subject is not None and subject != ticket.subject:
        _record(session, ticket, "edited", actor_id=actor.id, at=now, field="subject", previous=ticket.subject)
        ticket.subject = subject
    if description is not None and description != ticket.description:
        _record(session, ticket, "edited", actor_id=actor.id, at=now, field="description")
        ticket.description = description
    if priority is not None and priority != ticket.priority:
        previous = ticket.priority
        ticket.priority = priority
        if ticket.status in ACTIVE_STATUSES:
            apply_sla(session, ticket, _sla_start(session, ticket), policy)
        _record(session, ticket, "priority", actor_id=actor.id, at=now, **{"from": previous, "to": priority})
    if reassign and (new_team, new_assignee) != (ticket.team_id, ticket.assignee_id):
        previous = {"team_id": ticket.team_id, "assignee_id": ticket.assignee_id}
        ticket.team_id, ticket.assignee_id = new_team, new_assignee
        _record(session, ticket, "assigned", actor_id=actor.id, at=now, previous=previous, team_id=new_team,
                assignee_id=new_assignee)
        if new_assignee is not None and new_assignee != actor.id:
            publish_after_commit(session, "ticket.assigned", key=f"ticket.assigned:{ticket.id}",
                                 ticket_id=ticket.id, agent_id=new_assignee, subject=ticket.subject)
    if status is not None and status != ticket.status:
        _set_status(session, ticket, status, actor_id=actor.id, now=now, policy=policy)
    session.commit()
    session.expire(ticket, ["assignee", "team"])  # loaded before the ids changed
    return ticket


def change_status(session: Session, actor: User, ticket_id: int, status: str, *,
                  policy: TicketPolicy | None = None, now: datetime | None = None) -> Ticket:
    """Move the ticket along its workflow (refused when the move is not one of `TRANSITIONS`)."""
    ticket = get_ticket(session, actor, ticket_id)
    if status == ticket.status:
        _check_transition(ticket.status, status)
    return update_ticket(session, actor, ticket_id, status=status, policy=policy, now=now)


def assign(session: Session, actor: User, ticket_id: int, *, team_id: int | None, assignee_id: int | None,
           policy: TicketPolicy | None = None, now: datetime | None = None) -> Ticket:
    """Dispatch to a team, or give to someone of the team (see `_check_assignment` for who may)."""
    return update_ticket(session, actor, ticket_id, team_id=team_id, assignee_id=assignee_id, policy=policy, now=now)


def add_note(session: Session, actor: User, ticket_id: int, body: str, *, now: datetime | None = None) -> TicketEvent:
    """A note on the ticket's timeline; a person's first note is the first response. Committed."""
    now = now or utcnow()
    ticket = get_ticket(session, actor, ticket_id)
    body = (body or "").strip()
    if not body:
        raise ValidationFailed(t('A note cannot be empty'), field="body")
    if len(body) > MAX_TEXT:
        raise ValidationFailed(t('A note is at most %(max)s characters', max=MAX_TEXT), field="body")
    _responded(ticket, now)
    event = _record(session, ticket, "note", actor_id=actor.id, at=now, body=body)
    session.commit()
    return event


def reopen_for_contact(session: Session, contact_id: int | None, *, reason: str, now: datetime,
                       policy: TicketPolicy, call_id: int | None = None, actor_id: int | None = None,
                       exclude_ticket_id: int | None = None) -> list[Ticket]:
    """The contact came back (a call, a message): reopen their tickets resolved within the reopen window.
    Closed tickets stay closed. In the caller's transaction; returns the tickets reopened."""
    if contact_id is None or policy.reopen_days <= 0:
        return []
    since = now - timedelta(days=policy.reopen_days)
    query = select(Ticket).where(Ticket.contact_id == contact_id, Ticket.status == "resolved",
                                 Ticket.resolved_at >= since).with_for_update()
    if exclude_ticket_id is not None:
        query = query.where(Ticket.id != exclude_ticket_id)
    reopened = list(session.scalars(query))
    for ticket in reopened:
        _set_status(session, ticket, "open", actor_id=actor_id if _is_person(session, actor_id) else None, now=now,
                    policy=policy, kind="reopened", reason=reason, call_id=call_id)
    return reopened


def assignable_users(session: Session, actor: User) -> list[User]:
    """Whom `actor` may name as an assignee: an admin anyone active, a supervisor their team, an agent themselves."""
    query = select(User).where(User.active.is_(True)).order_by(User.full_name)
    if actor.role == Role.ADMIN.value:
        return list(session.scalars(query))
    if actor.role == Role.SUPERVISOR.value and actor.team_id is not None:
        return list(session.scalars(query.where(User.team_id == actor.team_id)))
    return [actor]


def teams(session: Session) -> list[Team]:
    return list(session.scalars(select(Team).order_by(Team.name)))


# --- escalation ---------------------------------------------------------------------------------------------------


def team_supervisor(session: Session, team_id: int | None) -> User | None:
    """The supervisor a breached ticket of the team goes to: the team's first active supervisor."""
    if team_id is None:
        return None
    return session.scalar(select(User).where(User.team_id == team_id, User.role == Role.SUPERVISOR.value,
                                             User.active.is_(True)).order_by(User.id).limit(1))


def _take_level(session: Session, ticket_id: int, level: int) -> bool:
    """Raise the ticket to `level` unless someone did already: one conditional UPDATE, so exactly one pass wins."""
    result = session.execute(update(Ticket).where(Ticket.id == ticket_id, Ticket.escalation_level < level,
                                                  Ticket.status.in_(CLOCK_RUNNING))
                             .values(escalation_level=level).execution_options(synchronize_session=False))
    return result.rowcount == 1


def escalate_due(session: Session, now: datetime | None = None) -> Escalations:
    """Warn the assignees of tickets past their warning point; hand breached tickets to the team's supervisor.

    Idempotent: each level is taken once per ticket (per SLA clock; a reopening starts a new one). Commits after
    each ticket, so a failure part-way keeps what was done.
    """
    now = now or utcnow()
    done = Escalations()
    late_response = and_(Ticket.first_responded_at.is_(None), Ticket.first_response_due_at <= now)
    breached = list(session.scalars(
        select(Ticket.id).where(Ticket.status.in_(CLOCK_RUNNING), Ticket.escalation_level < BREACHED,
                                or_(Ticket.due_at <= now, late_response))
        .order_by(func.coalesce(Ticket.first_response_due_at, Ticket.due_at))))
    for ticket_id in breached:
        if not _take_level(session, ticket_id, BREACHED):
            session.rollback()
            continue
        ticket = session.get(Ticket, ticket_id)
        session.refresh(ticket)
        supervisor = team_supervisor(session, ticket.team_id)
        previous = ticket.assignee_id
        if supervisor is not None:
            ticket.assignee_id = supervisor.id
        missed = "resolution" if ticket.due_at is not None and ticket.due_at <= now else "first_response"
        _record(session, ticket, "escalated", actor_id=None, at=now, level=BREACHED, previous_assignee_id=previous,
                assignee_id=ticket.assignee_id, due_at=ticket.due_at.isoformat() if ticket.due_at else None,
                missed=missed)
        for agent_id in {previous, ticket.assignee_id} - {None}:
            publish_after_commit(session, "ticket.escalated", key=f"ticket.escalated:{ticket.id}:{agent_id}",
                                 ticket_id=ticket.id, agent_id=agent_id, level=BREACHED, subject=ticket.subject,
                                 due_at=ticket.due_at.isoformat() if ticket.due_at else None,
                                 assignee_id=ticket.assignee_id)
        session.commit()
        done.reassigned.append(ticket_id)
    warned = list(session.scalars(
        select(Ticket.id).where(Ticket.status.in_(CLOCK_RUNNING), Ticket.escalation_level < WARNED,
                                Ticket.warn_at <= now).order_by(Ticket.warn_at)))
    for ticket_id in warned:
        if not _take_level(session, ticket_id, WARNED):
            session.rollback()
            continue
        ticket = session.get(Ticket, ticket_id)
        session.refresh(ticket)
        _record(session, ticket, "escalated", actor_id=None, at=now, level=WARNED, assignee_id=ticket.assignee_id,
                due_at=ticket.due_at.isoformat() if ticket.due_at else None)
        if ticket.assignee_id is not None:
            publish_after_commit(session, "ticket.escalated", key=f"ticket.escalated:{ticket.id}",
                                 ticket_id=ticket.id, agent_id=ticket.assignee_id, level=WARNED,
                                 subject=ticket.subject, due_at=ticket.due_at.isoformat() if ticket.due_at else None,
                                 assignee_id=ticket.assignee_id)
        session.commit()
        done.warned.append(ticket_id)
    return done
