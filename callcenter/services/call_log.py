"""The call log: finding calls after the fact, one call's whole story, and an agent's day of states.

Everything is read within the viewer's scope (services.scope): an agent their own calls, a supervisor their
team's, an admin all. A call outside the scope is "not found", never "forbidden", so its existence does not leak.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, func, or_, select
from sqlalchemy.orm import Session

from callcenter.models import AgentStateChange, Call, Callback, CallEvent, Disposition, Ticket, User
from callcenter.models.calls import CALL_DIRECTIONS
from callcenter.services import scope
from callcenter.services.errors import NotFound, ValidationFailed
from callcenter.services.messages import t
from callcenter.services.phones import to_e164

MAX_PER_PAGE = 10_000


@dataclass(frozen=True)
class CallFilter:
    """What the call log asks for; every field optional. `until` is exclusive; durations in seconds."""

    since: datetime | None = None
    until: datetime | None = None
    queue_id: int | None = None
    agent_id: int | None = None
    team_id: int | None = None
    number: str | None = None
    contact_id: int | None = None
    direction: str | None = None
    disposition: str | None = None
    min_duration: int | None = None
    max_duration: int | None = None


def _conditions(wanted: CallFilter, region: str) -> list[ColumnElement[bool]]:
    when = func.coalesce(Call.started_at, Call.created_at)
    conditions: list[ColumnElement[bool]] = []
    if wanted.since is not None:
        conditions.append(when >= wanted.since)
    if wanted.until is not None:
        conditions.append(when < wanted.until)
    if wanted.queue_id is not None:
        conditions.append(Call.queue_id == wanted.queue_id)
    if wanted.agent_id is not None:
        conditions.append(Call.agent_id == wanted.agent_id)
    if wanted.team_id is not None:
        conditions.append(Call.agent_id.in_(select(User.id).where(User.team_id == wanted.team_id)))
    if wanted.number:
        number = to_e164(wanted.number, region, field="number")
        conditions.append(or_(Call.from_number == number, Call.to_number == number))
    if wanted.contact_id is not None:
        conditions.append(Call.contact_id == wanted.contact_id)
    if wanted.direction:
        if wanted.direction not in CALL_DIRECTIONS:
            raise ValidationFailed(t("Direction is one of %(value)s", value=", ".join(CALL_DIRECTIONS)),
                                   field="direction")
        conditions.append(Call.direction == wanted.direction)
    if wanted.disposition:
        chosen = select(Disposition.id).where(Disposition.code == wanted.disposition)
        conditions.append(Call.disposition_id.in_(chosen))
    if wanted.min_duration is not None:
        conditions.append(Call.duration_seconds >= wanted.min_duration)
    if wanted.max_duration is not None:
        conditions.append(Call.duration_seconds <= wanted.max_duration)
    return conditions


def search(session: Session, viewer: User, wanted: CallFilter, *, region: str = "US", page: int = 1,
           per_page: int = 100) -> tuple[list[Call], int]:
    """Calls matching `wanted` in the viewer's scope, newest first, and how many there are in all."""
    conditions = [scope.calls(viewer), Call.parent_id.is_(None), *_conditions(wanted, region)]
    total = session.scalar(select(func.count()).select_from(Call).where(*conditions)) or 0
    per_page = max(1, min(per_page, MAX_PER_PAGE))
    rows = session.scalars(
        select(Call).where(*conditions)
        .order_by(func.coalesce(Call.started_at, Call.created_at).desc(), Call.id.desc())
        .limit(per_page).offset((max(page, 1) - 1) * per_page)
    ).all()
    return list(rows), total


def _seconds(start: datetime | None, end: datetime | None) -> int | None:
    """Whole seconds from start to end. The carrier stamps its events to the second and we stamp ours finer,
    so an end up to a second "before" its start is the same moment."""
    if start is None or end is None:
        return None
    elapsed = (end - start).total_seconds()
    return max(0, int(elapsed)) if elapsed > -1 else None


@dataclass
class CallStory:
    """One call as a supervisor reads it: its record, its events in order, and what followed from it."""

    call: Call
    events: list[CallEvent]
    legs: list[Call]
    callbacks: list[Callback]
    tickets: list[Ticket]
    wait_seconds: int | None
    talk_seconds: int | None
    transfers: list[dict[str, Any]] = field(default_factory=list)


def call_story(session: Session, viewer: User, call_sid: str) -> CallStory:
    call = session.scalar(select(Call).where(Call.call_sid == call_sid, scope.calls(viewer)))
    if call is None:
        raise NotFound(t("Call %(call_sid)s not found", call_sid=call_sid[:64]), field="call_sid")
    events = list(session.scalars(select(CallEvent).where(CallEvent.call_id == call.id)
                                  .order_by(CallEvent.occurred_at, CallEvent.id)))
    legs = list(session.scalars(select(Call).where(Call.parent_id == call.id).order_by(Call.id)))
    callbacks = list(session.scalars(select(Callback).where(Callback.call_id == call.id).order_by(Callback.id)))
    tickets = list(session.scalars(select(Ticket).where(Ticket.call_id == call.id).order_by(Ticket.id)))
    waited_from = call.enqueued_at or call.answered_at
    return CallStory(
        call=call, events=events, legs=legs, callbacks=callbacks, tickets=tickets,
        wait_seconds=_seconds(waited_from, call.agent_answered_at or (call.ended_at if waited_from else None)),
        talk_seconds=_seconds(call.agent_answered_at, call.ended_at),
        transfers=[{"at": e.occurred_at, **(e.data or {})} for e in events if e.kind in ("transfer", "transferred")],
    )


def agent_day(session: Session, viewer: User, agent_id: int, start: datetime, end: datetime
              ) -> tuple[User, list[AgentStateChange]]:
    """An agent's state changes between `start` and `end` (a day in the viewer's zone), oldest first."""
    agent = session.scalar(select(User).where(User.id == agent_id, scope.users(viewer)))
    if agent is None:
        raise NotFound(t("Agent %(agent_id)s not found", agent_id=agent_id), field="agent_id")
    changes = session.scalars(
        select(AgentStateChange).where(AgentStateChange.agent_id == agent_id, AgentStateChange.occurred_at >= start,
                                       AgentStateChange.occurred_at < end)
        .order_by(AgentStateChange.occurred_at, AgentStateChange.id))
    return agent, list(changes)
