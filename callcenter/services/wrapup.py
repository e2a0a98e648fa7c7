"""After-call work: the agent records how the call ended, may book a callback or open a ticket, then moves on.

A disposition is required, so every handled call says what came of it. Everything is saved in one transaction;
only then is the agent released from wrap-up (when the queue's wrap-up timer already did that, the work is
still saved). A second submission for the same call is refused, so a double click never books two callbacks.

Callbacks are rows with a `due_at`; whoever dials callbacks picks up scheduled rows that are due (no RQ job is
enqueued here, so there is exactly one place that places callback calls). A callback keeps the agent who booked
it (`agent_id`), campaign calls included.

Outbound calls wrap up the same way (services.outbound_calls puts the agent in wrap-up when their call ends). For
a campaign call the disposition is also the lead's `last_disposition`, and the lead lifecycle applies the
campaign's rule for it (one hook, `_campaign_lead_disposed`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import redis
from sqlalchemy import select
from sqlalchemy.orm import Session

from callcenter.models import (
    Call,
    Callback,
    CampaignContact,
    Contact,
    DialAttempt,
    Disposition,
    Ticket,
    User,
    utcnow,
)
from callcenter.services import agent_state, calls, leads, tickets
from callcenter.services.errors import Conflict, Forbidden, NotFound, ValidationFailed
from callcenter.services.messages import t
from callcenter.services.phones import to_e164, try_e164

MAX_NOTES = 10_000
TICKET_PRIORITIES = ("low", "normal", "high", "urgent")
# A callback "now" typed in a browser may be a few seconds behind the server clock.
CALLBACK_CLOCK_SKEW = timedelta(minutes=2)
CALLBACK_HORIZON = timedelta(days=365)


@dataclass(frozen=True)
class CallbackRequest:
    due_at: datetime
    phone: str | None = None  # default: the number the customer called from
    notes: str = ""


@dataclass(frozen=True)
class TicketRequest:
    subject: str
    description: str = ""
    priority: str = "normal"
    due_at: datetime | None = None


@dataclass(frozen=True)
class WrapUpResult:
    call: Call
    callback: Callback | None
    ticket: Ticket | None
    agent_state: str


def caller_sid(entry_id: str) -> str:
    """The customer's CallSid for an ACD entry id (a queued callback is `cb-<CallSid>`)."""
    return entry_id[3:] if entry_id.startswith("cb-") else entry_id


def active_dispositions(session: Session) -> list[Disposition]:
    return list(session.scalars(select(Disposition).where(Disposition.active.is_(True)).order_by(Disposition.label)))


def _call_for_agent(session: Session, agent_id: int, call_sid: str) -> Call:
    call = calls.get_call(session, caller_sid(call_sid))
    if call is None:
        raise NotFound(t('Call %(call_sid)s is not known', call_sid=call_sid), field="call_sid")
    if call.agent_id != agent_id:
        raise Forbidden(t('Only the agent who handled this call can wrap it up'), field="call_sid")
    return call


def _disposition(session: Session, code: str) -> Disposition:
    if not code:
        raise ValidationFailed(t('Choose a disposition'), field="disposition")
    found = session.scalar(select(Disposition).where(Disposition.code == code, Disposition.active.is_(True)))
    if found is None:
        raise ValidationFailed(t('Unknown disposition %(code)r', code=code), field="disposition")
    return found


def _callback(session: Session, call: Call, agent_id: int, request: CallbackRequest, now: datetime,
              region: str) -> Callback:
    due = request.due_at
    if due.tzinfo is None:
        raise ValidationFailed(t('The callback time needs a time zone'), field="callback.due_at")
    if due < now - CALLBACK_CLOCK_SKEW:
        raise ValidationFailed(t('The callback time is in the past'), field="callback.due_at")
    if due > now + CALLBACK_HORIZON:
        raise ValidationFailed(t('A callback is at most a year ahead'), field="callback.due_at")
    if request.phone:
        phone = to_e164(request.phone, region, field="callback.phone")
    else:
        phone = try_e164(call.from_number if call.direction == "inbound" else call.to_number, region)
        if phone is None:
            raise ValidationFailed(t("The caller's number is withheld; give the number to call back"),
                                   field="callback.phone")
    callback = Callback(
        contact_id=call.contact_id, phone_e164=phone, queue_id=call.queue_id, call_id=call.id, agent_id=agent_id,
        created_by_id=agent_id, requested_at=now, due_at=due, status="scheduled", notes=request.notes[:MAX_NOTES],
        owner_id=agent_id, source="wrap_up",  # offered to this agent first (services.callbacks)
    )
    return callback


def _ticket(session: Session, call: Call, agent_id: int, request: TicketRequest) -> Ticket:
    subject = request.subject.strip()
    if not subject:
        raise ValidationFailed(t('A ticket needs a subject'), field="ticket.subject")
    if len(subject) > 200:
        raise ValidationFailed(t('A ticket subject is at most 200 characters'), field="ticket.subject")
    if request.priority not in TICKET_PRIORITIES:
        raise ValidationFailed(t('Priority is one of %(value)s',
                                 value=', '.join(TICKET_PRIORITIES)), field="ticket.priority")
    contact = session.get(Contact, call.contact_id) if call.contact_id else None
    agent = session.get(User, agent_id)
    ticket = Ticket(
        subject=subject, description=request.description[:MAX_NOTES], priority=request.priority,
        contact_id=call.contact_id, account_id=contact.account_id if contact else None, call_id=call.id,
        assignee_id=agent_id, team_id=agent.team_id if agent else None, due_at=request.due_at, status="new",
        created_by_id=agent_id,
    )
    return ticket


def campaign_lead(session: Session, call: Call) -> CampaignContact | None:
    """The lead a campaign call was placed for: the dial attempt that placed it, else the campaign's lead with
    that number."""
    lead_id = session.scalar(select(DialAttempt.campaign_contact_id).where(
        DialAttempt.call_sid == call.call_sid, DialAttempt.campaign_contact_id.is_not(None)))
    if lead_id is not None:
        return session.get(CampaignContact, lead_id)
    return session.scalar(select(CampaignContact).where(CampaignContact.campaign_id == call.campaign_id,
                                                        CampaignContact.phone_e164 == call.to_number)
                          .order_by(CampaignContact.id))


def _campaign_lead_disposed(session: Session, call: Call, code: str, now: datetime) -> None:
    """A campaign call's disposition is the lead's latest. What it does to the lead (retry, final, callback)
    is the lead lifecycle's rule."""
    lead = leads.apply_disposition(session, call, code, now) or campaign_lead(session, call)
    if lead is not None:
        lead.last_disposition = code


def complete(
    session: Session,
    r: redis.Redis,
    *,
    agent_id: int,
    call_sid: str,
    disposition: str,
    notes: str = "",
    callback: CallbackRequest | None = None,
    ticket: TicketRequest | None = None,
    region: str = "US",
    now: datetime | None = None,
    ticket_policy: tickets.TicketPolicy | None = None,
) -> WrapUpResult:
    """Save the wrap-up of `call_sid` (the ACD entry id or the caller's CallSid) and release the agent.

    A call from a contact reopens their tickets resolved within the reopen window (services.tickets)."""
    now = now or utcnow()
    ticket_policy = ticket_policy or tickets.TicketPolicy()
    call = _call_for_agent(session, agent_id, call_sid)
    if call.disposition_id is not None:
        raise Conflict(t('This call is already wrapped up'), field="call_sid")
    if len(notes) > MAX_NOTES:
        raise ValidationFailed(t('Notes are at most %(max_notes)s characters', max_notes=MAX_NOTES), field="notes")
    # Everything is validated before anything changes, so a refused wrap-up leaves no half-saved call.
    chosen = _disposition(session, disposition)
    booked = _callback(session, call, agent_id, callback, now, region) if callback else None
    opened = _ticket(session, call, agent_id, ticket) if ticket else None
    call.disposition_id = chosen.id
    call.notes = notes.strip()
    if call.campaign_id is not None:
        _campaign_lead_disposed(session, call, chosen.code, now)
    session.add_all([item for item in (booked, opened) if item is not None])
    session.flush()
    if opened is not None:
        tickets.opened(session, opened, actor_id=agent_id, now=now, policy=ticket_policy, source="wrap_up")
    if call.direction == "inbound":
        tickets.reopen_for_contact(session, call.contact_id, reason="call", now=now, policy=ticket_policy,
                                   call_id=call.id, actor_id=agent_id,
                                   exclude_ticket_id=opened.id if opened is not None else None)
    calls.record_event(session, call, "wrap_up_ended",
                       {"agent_id": agent_id, "disposition": chosen.code,
                        "callback_id": booked.id if booked else None, "ticket_id": opened.id if opened else None},
                       dedupe_key=f"wrap_up_ended:{call.call_sid}", occurred_at=now)
    session.commit()
    presence = agent_state.get_presence(r, agent_id)
    if presence.state == agent_state.WRAP_UP:
        try:
            presence = agent_state.finish_wrap_up(session, r, agent_id, now.timestamp())
        except agent_state.IllegalTransition:
            presence = agent_state.get_presence(r, agent_id)  # the wrap-up timer was faster
    return WrapUpResult(call=call, callback=booked, ticket=opened, agent_state=presence.state)
