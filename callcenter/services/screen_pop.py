"""The screen-pop: everything an agent needs to see about a caller before the phone rings.

Built once per offer from a handful of indexed queries; the realtime layer only forwards it. A caller is matched on
any of a contact's numbers (stored in E.164, so the format they were typed in does not matter); several matches give
a pick list, none gives a prefilled new-contact card.

The pop also suggests up to three knowledge base articles (id and title only: the pop stays small) for the queue the
caller chose in the IVR and their open tickets' categories (services.knowledge_base).

Each contact card carries its customer segment and scores (`rfm`, from the last pass of the RFM job; None
before it), so the agent sees a champion or a customer at risk before answering.

The caller's card (contact, candidates, open tickets) is the same for every agent and may be built while the caller
is still in the IVR; the recent calls are not: they are read for the agent being offered the call, within that
agent's role scope (services.scope), as the contact timeline is. Anyone may put any number on a contact of their own,
so an unscoped history would show other teams' calls, notes and dispositions to whoever is offered the caller.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, and_, or_, select
from sqlalchemy.orm import Session, joinedload

from callcenter.models import Call, Contact, Ticket, User
from callcenter.services import knowledge_base, rfm, scope
from callcenter.services.contacts import contacts_for_number
from callcenter.services.phones import display, time_zones, try_e164

HISTORY_LENGTH = 5
# Set on a card built ahead of the offer (services.offers): False when the caller had no other call then.
EARLIER_CALLS = "earlier_calls"
OPEN_TICKET_STATUSES = ("new", "open", "pending")


def contact_card(contact: Contact) -> dict[str, Any]:
    account = contact.account
    return {
        "id": contact.id,
        "name": contact.display_name,
        "first_name": contact.first_name,
        "last_name": contact.last_name,
        "full_name": contact.full_name,
        "email": contact.email,
        "vip": bool(contact.vip or (account is not None and account.vip)),
        "account": None if account is None else {"id": account.id, "name": account.name, "vip": account.vip},
        "phones": [{"e164": p.e164, "display": display(p.e164), "label": p.label} for p in contact.phones],
        "owner_id": contact.owner_id,
        "time_zone": contact.time_zone,
        "notes": contact.notes,
    }


def _callers_calls(contact_ids: list[int], e164: str | None, exclude_sid: str) -> ColumnElement[bool] | None:
    """The caller's other calls (by their contacts or their number; a call's transfer legs are not calls of
    their own); None when nothing identifies the caller."""
    conditions = []
    if contact_ids:
        conditions.append(Call.contact_id.in_(contact_ids))
    if e164:
        conditions.append(Call.from_number == e164)
    if not conditions:
        return None
    return and_(or_(*conditions), Call.call_sid != exclude_sid, Call.parent_id.is_(None))


def has_earlier_calls(session: Session, card: dict[str, Any], exclude_sid: str) -> bool:
    """Whether the caller of `card` has any call on record but `exclude_sid`, whoever handled it. Asked when the
    card is built in the IVR, so that a first-time caller's pop needs no history query."""
    callers_calls = _callers_calls(card_contact_ids(card), card.get("e164"), exclude_sid)
    return callers_calls is not None and session.scalar(select(Call.id).where(callers_calls).limit(1)) is not None


def _history(session: Session, viewer: User | scope.Viewer, contact_ids: list[int], e164: str | None,
             exclude_sid: str) -> list[dict[str, Any]]:
    """The caller's last calls that `viewer` may see: their scope's, or ones nobody handled (a missed call)."""
    callers_calls = _callers_calls(contact_ids, e164, exclude_sid)
    if callers_calls is None:
        return []
    calls = session.scalars(
        select(Call)
        .where(callers_calls, or_(scope.calls(viewer), Call.agent_id.is_(None)))
        # Many-to-one: joined into the one query (selectin loads were three more round trips for a known caller).
        .options(joinedload(Call.agent), joinedload(Call.queue), joinedload(Call.disposition))
        .order_by(Call.created_at.desc(), Call.id.desc())
        .limit(HISTORY_LENGTH)
    ).all()
    return [
        {
            "call_sid": call.call_sid,
            "at": (call.started_at or call.created_at).isoformat(),
            "direction": call.direction,
            "status": call.status,
            "queue": call.queue.name if call.queue else None,
            "agent": call.agent.full_name if call.agent else None,
            "duration_seconds": call.duration_seconds,
            "disposition": call.disposition.label if call.disposition else None,
            "notes": call.notes,
        }
        for call in calls
    ]


def _open_tickets(session: Session, contact_ids: list[int]) -> list[dict[str, Any]]:
    if not contact_ids:
        return []
    tickets = session.scalars(
        select(Ticket)
        .where(Ticket.contact_id.in_(contact_ids), Ticket.status.in_(OPEN_TICKET_STATUSES))
        .order_by(Ticket.due_at.is_(None), Ticket.due_at, Ticket.id)
    ).all()
    return [
        {
            "id": t.id,
            "subject": t.subject,
            "status": t.status,
            "priority": t.priority,
            "due_at": t.due_at.isoformat() if t.due_at else None,
            "contact_id": t.contact_id,
        }
        for t in tickets
    ]


def caller_card(session: Session, *, call_sid: str, from_number: str, region: str = "US",
                contact_id: int | None = None) -> dict[str, Any]:
    """What the CRM knows of a caller for the pop, the same for every agent: the matched contact (or candidates,
    or a new-contact card) and open tickets. `contact_id` pins the contact when it is already known (a callback).
    The recent calls depend on who looks: build_screen_pop adds them for the agent offered the call."""
    e164 = try_e164(from_number, region)
    if contact_id is not None:
        pinned = session.get(Contact, contact_id)
        matches = [pinned] if pinned is not None else []
    else:
        matches = contacts_for_number(session, e164) if e164 else []
    ids = [c.id for c in matches]
    segments = rfm.cards_of(session, ids)
    cards = [contact_card(c) | {"rfm": segments.get(c.id)} for c in matches]
    card: dict[str, Any] = {
        "from": e164 or from_number,
        "from_display": display(e164) if e164 else (from_number or "Unknown caller"),
        "contact": cards[0] if len(cards) == 1 else None,
        "candidates": cards if len(cards) > 1 else [],
        "new_contact": None,
        "e164": e164,
        "open_tickets": _open_tickets(session, ids),
    }
    if not matches:
        card["new_contact"] = {
            "phone": e164,
            "phone_display": display(e164) if e164 else None,
            "time_zones": time_zones(e164) if e164 else [],
        }
    card["vip"] = any(c["vip"] for c in ([card["contact"]] if card["contact"] else card["candidates"]))
    return card


def build_screen_pop(
    session: Session,
    *,
    call_sid: str,
    from_number: str,
    queue_name: str | None = None,
    ivr_path: list[Any] | None = None,
    waited_seconds: float | None = None,
    region: str = "US",
    contact_id: int | None = None,
    card: dict[str, Any] | None = None,
    caller_language: str | None = None,
    viewer_id: int | None = None,
) -> dict[str, Any]:
    """The pop for one offered call: the call's own facts, the caller's card (`card`, when one was built
    while the caller was in the IVR; else it is built now) and the caller's recent calls that the user `viewer_id`,
    the agent offered the call, may see (none without a viewer, who is loaded only when the card does not say the
    caller has no other call). `caller_language` is the locale the caller chose in the IVR ("zh_Hans", "en"; None
    when unknown)."""
    if card is None:
        card = caller_card(session, call_sid=call_sid, from_number=from_number, region=region, contact_id=contact_id)
    card = dict(card)
    first_call = card.pop(EARLIER_CALLS, None) is False
    e164 = card.get("e164", try_e164(from_number, region))
    viewer = None if viewer_id is None or first_call else scope.viewer(session, viewer_id)
    history = [] if viewer is None else _history(session, viewer, card_contact_ids(card), e164, call_sid)
    suggested = knowledge_base.suggested_articles(session, queue_name=queue_name,
                                                  ticket_categories=ticket_categories(card.get("open_tickets") or []))
    return {
        "call_sid": call_sid,
        "queue": queue_name,
        "ivr_path": ivr_path or [],
        "caller_language": caller_language,
        "waited_seconds": round(waited_seconds, 1) if waited_seconds is not None else None,
        **card,
        "history": history,
        "suggested_articles": suggested,
    }


def card_contact_ids(card: dict[str, Any]) -> list[int]:
    """The contacts a caller's card matched: its contact, or its candidates."""
    contacts = [card["contact"]] if card.get("contact") else card.get("candidates") or []
    return [c["id"] for c in contacts]


def ticket_categories(open_tickets: list[dict[str, Any]]) -> list[str]:
    """The categories of the caller's open tickets, for the knowledge base's suggestions; none until tickets carry
    a `category` in their card (the hook is here so the pop needs no other change then)."""
    return [ticket["category"] for ticket in open_tickets if ticket.get("category")]
