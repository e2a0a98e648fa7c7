"""Repairs for agent states that no longer match the calls, each one recorded in the audit log.

Missed status callbacks, a crashed process or a lost webhook can leave an agent "on call" after the caller
hung up, or in a wrap-up that never ends. Agents stuck like that look busy forever; this finds and frees them.
It also checks the ACD's per-skill index against each agent's presence (a restored or hand-edited Redis).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import redis
from sqlalchemy import select
from sqlalchemy.orm import Session

from callcenter.models import Call, Role, User
from callcenter.services import acd, agent_state, audit, outbound_calls, routing
from callcenter.services.calls import TERMINAL_STATUSES

# A call record may lag its first webhook by a moment; never repair younger than this.
MIN_AGE_SECONDS = 60.0


@dataclass(frozen=True)
class Repair:
    agent_id: int
    problem: str
    action: str
    call_sid: str | None = None


def _call_is_live(session: Session, call_sid: str) -> bool | None:
    """True/False from the call record; None when there is no record (the call may not be logged yet)."""
    status = session.scalar(select(Call.status).where(Call.call_sid == call_sid))
    if status is None:
        return None
    return status not in TERMINAL_STATUSES


def repair_agent_states(session: Session, r: redis.Redis, now: float | None = None) -> list[Repair]:
    """Check every agent's live state against the calls; fix and record what does not match."""
    now = time.time() if now is None else now
    repairs: list[Repair] = []
    agent_ids = session.scalars(select(User.id).where(User.role == Role.AGENT.value)).all()
    for agent_id in acd.repair_agent_index(r, list(agent_ids)):
        repairs.append(Repair(agent_id, "routing index out of step with the agent's presence", "re-indexed"))
    for agent_id in agent_ids:
        presence = agent_state.get_presence(r, agent_id)
        age = now - presence.since if presence.since else 0.0
        if age < MIN_AGE_SECONDS:
            continue
        if presence.state == agent_state.ON_CALL and presence.current_call:
            # Every inbound call is logged by its first webhook, so after a minute "no record" means "not live".
            if _call_is_live(session, presence.current_call):
                continue
            if routing.finish_call(session, r, presence.current_call, now) is None:
                outbound_calls.call_ended(session, r, presence.current_call, now)  # a call the agent placed
            if agent_state.get_presence(r, agent_id).state == agent_state.ON_CALL:
                continue  # the ACD could not release it; leave it for a supervisor rather than guess
            repairs.append(Repair(agent_id, "on call with no live call", "ended the call; wrap-up started",
                                  presence.current_call))
        elif presence.state == agent_state.WRAP_UP and presence.wrap_up_until is None:
            agent_state.finish_wrap_up(session, r, agent_id, now)
            repairs.append(Repair(agent_id, "wrap-up without an end time", "made available"))
    for repair in repairs:
        audit.record(session, "agent_state.repaired", actor_id=None, entity=session.get(User, repair.agent_id),
                     problem=repair.problem, repair=repair.action, call_sid=repair.call_sid)
    if repairs:
        session.commit()
    return repairs
