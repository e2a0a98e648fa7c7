"""A contact's history on one line: calls, call notes, tickets and callbacks, newest first.

Calls and callbacks are matched on the contact id and on any of the contact's numbers, so a call that came from
the contact's second number before it was linked still shows. Every query is role-scoped: anyone may put any
number on a contact of their own (or have a call linked to it), so seeing the contact never opens other teams'
calls, notes, dispositions, callbacks or tickets. What nobody handled (a missed call, a callback the caller booked
in the IVR) shows on the contact it is linked to.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session, selectinload

from callcenter.models import Call, Callback, Contact, Ticket, User
from callcenter.services import contacts as contact_service
from callcenter.services import scope

DEFAULT_LIMIT = 50


def _at(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def contact_timeline(session: Session, actor: User, contact_id: int,
                     limit: int = DEFAULT_LIMIT) -> list[dict[str, Any]]:
    """Everything that happened with a contact the actor may see (NotFound otherwise), newest first."""
    contact: Contact = contact_service.get_contact(session, actor, contact_id)
    numbers = [p.e164 for p in contact.phones]
    call_match = [Call.contact_id == contact.id]
    if numbers:
        call_match += [Call.from_number.in_(numbers), Call.to_number.in_(numbers)]
    unhandled_here = and_(Call.contact_id == contact.id, Call.agent_id.is_(None))
    found_calls = session.scalars(
        select(Call).where(or_(*call_match), Call.parent_id.is_(None), or_(scope.calls(actor), unhandled_here))
        .options(selectinload(Call.agent), selectinload(Call.queue), selectinload(Call.disposition))
        .order_by(Call.created_at.desc()).limit(limit)
    ).all()
    items: list[dict[str, Any]] = []
    for call in found_calls:
        at = call.started_at or call.created_at
        items.append({
            "kind": "call", "at": _at(at), "id": call.id, "call_sid": call.call_sid, "direction": call.direction,
            "status": call.status, "queue": call.queue.name if call.queue else None,
            "agent": call.agent.full_name if call.agent else None, "duration_seconds": call.duration_seconds,
            "disposition": call.disposition.label if call.disposition else None,
        })
        if call.notes:
            items.append({"kind": "note", "at": _at(call.wrap_up_ended_at or call.ended_at or at), "call_id": call.id,
                          "text": call.notes, "author": call.agent.full_name if call.agent else None})
    for ticket in session.scalars(
        select(Ticket).where(Ticket.contact_id == contact.id, or_(scope.tickets(actor), Ticket.assignee_id.is_(None)))
        .order_by(Ticket.created_at.desc()).limit(limit)
    ):
        items.append({"kind": "ticket", "at": _at(ticket.created_at), "id": ticket.id, "subject": ticket.subject,
                      "status": ticket.status, "priority": ticket.priority, "due_at": _at(ticket.due_at)})
    callback_match = [Callback.contact_id == contact.id]
    if numbers:
        callback_match.append(Callback.phone_e164.in_(numbers))
    for callback in session.scalars(
        select(Callback).where(or_(*callback_match), or_(scope.callbacks(actor), and_(
            Callback.contact_id == contact.id, Callback.agent_id.is_(None), Callback.created_by_id.is_(None))))
        .order_by(Callback.requested_at.desc()).limit(limit)
    ):
        items.append({"kind": "callback", "at": _at(callback.requested_at), "id": callback.id,
                      "due_at": _at(callback.due_at), "status": callback.status, "phone": callback.phone_e164,
                      "notes": callback.notes})
    items.sort(key=lambda item: item["at"] or "", reverse=True)
    return items[:limit]
