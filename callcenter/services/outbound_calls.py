"""Calls an agent places from the console (click-to-call): checked, logged, linked to the contact."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from callcenter.models import Call, User, utcnow
from callcenter.services import calls, dialing_gate
from callcenter.services.contacts import contacts_for_number
from callcenter.services.errors import Forbidden, ValidationFailed
from callcenter.services.messages import t
from callcenter.services.phones import to_e164

AGENT_IDENTITY_PREFIX = "client:agent-"


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
                     now: datetime | None = None, rules: dialing_gate.DialRules | None = None) -> AgentCall:
    """Check and log an outgoing call from an agent's softphone to a customer number.

    The dialing gate decides once the agent and caller ID are known (DialRefused with the reason, stored)."""
    agent_id = agent_id_from_identity(from_identity)
    agent = session.get(User, agent_id) if agent_id is not None else None
    if agent is None or not agent.active:
        raise Forbidden(t("Calls may only be placed from an active agent's softphone"), field="From")
    target = to_e164(to_raw, region, field="To")
    chosen = caller_id or (allowed_caller_ids[0] if allowed_caller_ids else None)
    if chosen not in allowed_caller_ids:
        raise ValidationFailed(t('%(chosen)r is not one of our caller IDs', chosen=chosen), field="CallerId")
    now = now or utcnow()
    dialing_gate.require(session, target, actor=agent, now=now, path="softphone", rules=rules, call_sid=call_sid)
    call = calls.open_call(session, call_sid=call_sid, direction="outbound-dial", from_number=chosen,
                           to_number=target, occurred_at=now)
    matches = contacts_for_number(session, target)
    call.agent_id = agent.id
    if len(matches) == 1:
        call.contact_id = matches[0].id
    session.commit()
    return AgentCall(call, target, chosen)
