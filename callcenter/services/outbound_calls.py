"""Calls an agent places (click-to-call from the console or the softphone; campaign calls later): checked,
logged, linked to the contact; the agent is on the call while it lasts and wraps up when it ends.

An agent's own call is their current call in the ACD (state on_call), so no queue call is offered during it; its
end (the status callback of the customer's leg, or of the agent's leg for a softphone dial) puts them in wrap-up
like a queue call's end: the disposition form opens, then they are available again. The wrap-up time is the
call's queue's (a campaign's queue, for campaign calls), else DEFAULT_WRAP_UP_SECONDS.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import redis
from sqlalchemy import select
from sqlalchemy.orm import Session

from callcenter.models import Call, CallEvent, Campaign, User, utcnow
from callcenter.services import acd, agent_state, calls, dialing_gate
from callcenter.services.contacts import contacts_for_number
from callcenter.services.errors import Conflict, Forbidden, ValidationFailed
from callcenter.services.events import publish
from callcenter.services.messages import t
from callcenter.services.phones import to_e164

AGENT_IDENTITY_PREFIX = "client:agent-"
DEFAULT_WRAP_UP_SECONDS = 60


@dataclass(frozen=True)
class AgentCall:
    call: Call
    to_e164: str
    caller_id: str


def agent_id_from_identity(from_value: str) -> int | None:
    """`client:agent-7` -> 7 (the softphone identity the console registers with)."""
    if not from_value.startswith(AGENT_IDENTITY_PREFIX):
        return None
    tail = from_value[len(AGENT_IDENTITY_PREFIX):]
    return int(tail) if tail.isdigit() else None


def start_agent_call(session: Session, *, call_sid: str, from_identity: str, to_raw: str,
                     caller_id: str | None, allowed_caller_ids: list[str], region: str = "US",
                     now: datetime | None = None, rules: dialing_gate.DialRules | None = None,
                     r: redis.Redis | None = None) -> AgentCall:
    """Check and log an outgoing call from an agent's softphone to a customer number.

    The dialing gate decides once the agent and caller ID are known (DialRefused with the reason, stored). With
    `r`, the agent is on this call until it ends (refused while they hold an offer or another call)."""
    agent_id = agent_id_from_identity(from_identity)
    agent = session.get(User, agent_id) if agent_id is not None else None
    if agent is None or not agent.active:
        raise Forbidden(t("Calls may only be placed from an active agent's softphone"), field="From")
    target = to_e164(to_raw, region, field="To")
    chosen = caller_id or (allowed_caller_ids[0] if allowed_caller_ids else None)
    if chosen not in allowed_caller_ids:
        raise ValidationFailed(t('%(chosen)r is not one of our caller IDs', chosen=chosen), field="CallerId")
    now = now or utcnow()
    if r is not None:
        presence = agent_state.get_presence(r, agent.id)
        if presence.state in (agent_state.RESERVED, agent_state.ON_CALL) or presence.reservation:
            raise Conflict(t('Finish the current call first'), field="state")
    dialing_gate.require(session, target, actor=agent, now=now, path="softphone", rules=rules, call_sid=call_sid)
    call = calls.open_call(session, call_sid=call_sid, direction="outbound-dial", from_number=chosen,
                           to_number=target, occurred_at=now)
    matches = contacts_for_number(session, target)
    call.agent_id = agent.id
    if len(matches) == 1:
        call.contact_id = matches[0].id
    session.commit()
    if r is not None:
        agent_on_call(session, r, agent.id, call_sid, now.timestamp(), flush_now=False)
        session.commit()
    return AgentCall(call, target, chosen)


def agent_on_call(session: Session, r: redis.Redis, agent_id: int, call_sid: str, now: float | None = None, *,
                  flush_now: bool = True) -> None:
    """The agent is on a call they placed (`call_sid`: the call record that has their agent_id) until it ends.

    An agent not logged in yet is logged in (away) first. Conflict while they hold an offer or another call.
    `flush_now=False` (webhooks) leaves the state history to a job once the caller commits."""
    now = time.time() if now is None else now
    if agent_state.get_presence(r, agent_id).state == agent_state.OFFLINE:
        agent_state.login(session, r, agent_id, now, state=agent_state.AWAY, reason="outbound")
    outcome, _from_state = acd.outbound_begin(r, agent_id, call_sid, now)
    if outcome == "busy":
        raise Conflict(t('Finish the current call first'), field="state")
    if outcome == "ended":  # its status webhook came first and found nobody on it: wrap-up now
        call_ended(session, r, call_sid, now)
    if flush_now:
        agent_state.flush_log(session, r)
    else:
        agent_state.flush_log_later(session)


def _parent_sid(session: Session, call: Call) -> str | None:
    """The ParentCallSid a leg's status callbacks named (a <Dial><Number> leg's parent is the agent's call)."""
    for data in session.scalars(select(CallEvent.data).where(CallEvent.call_id == call.id)):
        parent = (data or {}).get("ParentCallSid")
        if parent:
            return str(parent)
    return None


def placed_by_agent(session: Session, call_sid: str) -> Call | None:
    """The agent's own call record behind a leg that ended: itself, or its parent; None for other calls."""
    call = calls.get_call(session, call_sid)
    if call is None:
        return None
    if call.agent_id is not None and call.direction != "inbound":
        return call
    parent_sid = _parent_sid(session, call) if call.direction != "inbound" else None
    parent = calls.get_call(session, parent_sid) if parent_sid else None
    if parent is not None and parent.agent_id is not None and parent.direction != "inbound":
        return parent
    return None


def call_ended(session: Session, r: redis.Redis, call_sid: str, now: float | None = None) -> dict[str, Any] | None:
    """A leg ended: when it was an agent's own call, they go to wrap-up (the console opens its form). Not
    committed (the status webhook commits). None when nothing changed (not such a call, or already ended)."""
    now = time.time() if now is None else now
    acd.mark_leg_ended(r, call_sid)  # before the lookup: the record may not be visible to this process yet
    call = placed_by_agent(session, call_sid)
    if call is None or call.agent_id is None:
        return None
    queue_id = call.queue_id
    if call.campaign_id is not None:
        campaign = session.get(Campaign, call.campaign_id)
        queue_id = campaign.queue_id if campaign is not None and campaign.queue_id else queue_id
    result = acd.outbound_end(r, call.agent_id, call.call_sid, now, DEFAULT_WRAP_UP_SECONDS, queue_id)
    if result is None:
        return None
    agent_state.flush_log_later(session)
    publish("agent.call", agent_id=call.agent_id, call_sid=call.call_sid, status="ended",
            agent_state=result["agent_state"], wrap_up_until=result.get("wrap_up_until"))
    calls.record_event(session, call, "wrap_up_started", {"agent_id": call.agent_id},
                       dedupe_key=f"wrap_up_started:{call.call_sid}")
    return result
