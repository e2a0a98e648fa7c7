"""Who a call was with, decided by the agent on it from the pop: create the new caller's contact, or pick one of
several contacts that share the number.

A call is linked to one contact (`calls.contact_id`): the call is logged once, for that contact, whichever of
the contacts sharing the number the pop offered (their timelines still list calls from their numbers, as
services.timeline says). Linking is idempotent: the same pick twice, or a pick repeated after a reload, changes
nothing and logs nothing; each change is one call event (deduplicated per call and contact) and one audit entry.
Creating from the call is idempotent too: the contact created from a call is remembered in its event log, and a
second create returns it.

Only the agent the call names (the one it was offered to, or who answered it) may do either, as for wrap-up.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from callcenter.models import Call, CallEvent, Contact, ContactPhone, User
from callcenter.services import audit, calls, scope
from callcenter.services import contacts as contact_service
from callcenter.services.errors import Forbidden, NotFound
from callcenter.services.messages import t
from callcenter.services.phones import try_e164
from callcenter.services.wrapup import caller_sid

LINKED_KIND = "contact_linked"
CREATED_KIND = "contact_created"


@dataclass(frozen=True)
class Linked:
    call: Call
    contact_id: int
    changed: bool  # False: the call was already linked to this contact (nothing logged)


def call_of_agent(session: Session, actor: User, call_sid: str) -> Call:
    """The call (by the console's offer id) if `actor` is the agent on it; else NotFound / Forbidden."""
    call = calls.get_call(session, caller_sid(call_sid))
    if call is None:
        raise NotFound(t('Call %(call_sid)s is not known', call_sid=call_sid), field="call_sid")
    if call.agent_id != actor.id:
        raise Forbidden(t("Only the agent on this call can say who it is with"), field="call_sid")
    return call


def customer_number(call: Call, region: str = "US") -> str | None:
    """The customer's number in E.164: who called in, or who an outbound call went to (None when withheld)."""
    return try_e164(call.from_number if call.direction == "inbound" else call.to_number, region)


def _contact_for(session: Session, actor: User, call: Call, contact_id: int, region: str) -> Contact:
    """A contact the agent may link: one they may see, or one of the pop's candidates (a contact with the
    customer's number, whoever owns it: the pop showed it to them)."""
    number = customer_number(call, region)
    candidate = number is not None and session.scalar(
        select(ContactPhone.id).where(ContactPhone.contact_id == contact_id, ContactPhone.e164 == number)) is not None
    query = select(Contact).where(Contact.id == contact_id)
    contact = session.scalar(query if candidate else query.where(scope.contacts(actor)))
    if contact is None:
        raise NotFound(t('Contact %(contact_id)s not found', contact_id=contact_id), field="contact_id")
    return contact


def linked_contact_id(session: Session, actor: User, call_sid: str) -> int | None:
    """The contact the agent's call is linked to (None: nobody yet)."""
    return call_of_agent(session, actor, call_sid).contact_id


def link(session: Session, actor: User, call_sid: str, contact_id: int, region: str = "US") -> Linked:
    """Link the agent's call to a contact; committed. The same link again changes and logs nothing."""
    call = call_of_agent(session, actor, call_sid)
    contact = _contact_for(session, actor, call, contact_id, region)
    if call.contact_id == contact.id:
        return Linked(call, contact.id, changed=False)
    _link(session, actor, call, contact.id)
    session.commit()
    return Linked(call, contact.id, changed=True)


def _link(session: Session, actor: User, call: Call, contact_id: int) -> None:
    previous = call.contact_id
    call.contact_id = contact_id
    calls.record_event(session, call, LINKED_KIND, {"contact_id": contact_id, "agent_id": actor.id,
                                                    "previous_contact_id": previous},
                       dedupe_key=f"{LINKED_KIND}:{call.call_sid}:{contact_id}:{previous}")
    audit.record(session, "call.contact_linked", actor_id=actor.id, entity=call, contact_id=contact_id,
                 previous_contact_id=previous)


def _created_from(session: Session, call: Call) -> Contact | None:
    """The contact an earlier create made from this call, if it still exists."""
    data = session.scalar(select(CallEvent.data).where(CallEvent.call_id == call.id, CallEvent.kind == CREATED_KIND)
                          .order_by(CallEvent.id).limit(1))
    return session.get(Contact, int(data["contact_id"])) if data and data.get("contact_id") else None


def create_from_call(session: Session, actor: User, call_sid: str, values: dict[str, Any],
                     region: str = "US") -> tuple[Contact, bool]:
    """Create the caller's contact, with the call's number, owned by the agent, and link the call to it;
    committed. Returns (contact, created): a second create for the same call returns the first contact."""
    call = call_of_agent(session, actor, call_sid)
    earlier = _created_from(session, call)
    if earlier is not None:
        return earlier, False
    number = customer_number(call, region)
    phones = [contact_service.PhoneInput(number=number, label="mobile")] if number else []
    contact = contact_service.create_contact(session, actor, {**values, "owner_id": actor.id}, phones,
                                             region=region)
    if calls.record_event(session, call, CREATED_KIND, {"contact_id": contact.id, "agent_id": actor.id},
                          dedupe_key=f"{CREATED_KIND}:{call.call_sid}") is None:
        # A create for the same call (a second tab) won the race: keep its contact, not two.
        session.delete(contact)
        session.commit()
        return _created_from(session, call) or contact, False
    _link(session, actor, call, contact.id)
    session.commit()
    return contact, True
