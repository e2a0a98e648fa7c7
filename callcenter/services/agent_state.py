"""The agent state machine: live presence in Redis (shared, fast), every transition also in the database.

    offline   -> available | away                       (login)
    available -> reserved (the ACD only) | away | offline | on_call (a call the agent places)
    reserved  -> on_call (accepted) | available (rejected, or the caller hung up) | away ("missed": the offer
                 timed out) | offline (the socket was gone longer than the grace period; the call is re-offered)
    on_call   -> wrap_up (the call ended)               a call in progress is never dropped: no logout, no
                                                         away, and a lost socket keeps the agent on the call
    wrap_up   -> available (the queue's wrap-up timer, or the agent is done) | away | offline
    away      -> available | away (another reason) | offline | on_call (a call the agent places)

An agent who places a call (click-to-call, a campaign call) is on that call from available, away or wrap-up
(services.outbound_calls), and goes to wrap-up when it ends, as after a queue call.

Reserved and on_call are entered and left only by the ACD (services.routing); people ask for the others.
Besides the state, an agent can be `unreachable` (heartbeat failed) or `disconnected` (socket gone, within the
grace period): the state is kept but no call is offered until they are back.

Every transition is appended to a Redis list by the same script that makes it, then moved to the
`agent_state_changes` table by `flush_log` (which publishes "agent.state_changed"): called directly by the functions
people call, and through a job (`flush_log_later`) by the ACD steps webhooks take. A transition can therefore
never be applied without being logged, even when the database is briefly unavailable.
"""

from __future__ import annotations

import json
import logging
import re
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import redis
from sqlalchemy import select
from sqlalchemy.orm import Session

from callcenter.models import AgentStateChange, User, UserSkill
from callcenter.services import acd, jobs
from callcenter.services.errors import Conflict, NotFound, ValidationFailed
from callcenter.services.events import publish
from callcenter.services.messages import t

log = logging.getLogger(__name__)

OFFLINE, AVAILABLE, RESERVED, ON_CALL, WRAP_UP, AWAY = "offline", "available", "reserved", "on_call", "wrap_up", "away"
STATES = (OFFLINE, AVAILABLE, RESERVED, ON_CALL, WRAP_UP, AWAY)

# The whole machine (from -> to). Tests check every pair against it.
LEGAL: dict[str, frozenset[str]] = {
    OFFLINE: frozenset({AVAILABLE, AWAY}),
    AVAILABLE: frozenset({RESERVED, AWAY, OFFLINE, ON_CALL}),
    RESERVED: frozenset({ON_CALL, AVAILABLE, AWAY, OFFLINE}),
    ON_CALL: frozenset({WRAP_UP}),
    WRAP_UP: frozenset({AVAILABLE, AWAY, OFFLINE, ON_CALL}),
    AWAY: frozenset({AVAILABLE, AWAY, OFFLINE, ON_CALL}),
}
# What a person may ask for: target -> the states it may be asked from. The rest belongs to the ACD.
REQUESTABLE: dict[str, tuple[str, ...]] = {
    AVAILABLE: (OFFLINE, AWAY, WRAP_UP),
    AWAY: (OFFLINE, AVAILABLE, WRAP_UP, AWAY),
    OFFLINE: (AVAILABLE, AWAY, WRAP_UP),
}
REASON_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,59}$")
DEFAULT_DISCONNECT_GRACE_SECONDS = 30


class IllegalTransition(Conflict):
    """The agent's current state does not allow the requested change."""

    def __init__(self, message: str, from_state: str, to_state: str) -> None:
        super().__init__(message, field="state")
        self.from_state = from_state
        self.to_state = to_state


@dataclass(frozen=True)
class AgentPresence:
    """An agent's live presence as the ACD sees it."""

    agent_id: int
    state: str
    since: float | None
    reason: str | None
    idle_since: float | None
    unreachable: bool
    disconnected_at: float | None
    current_call: str | None
    reservation: str | None
    wrap_up_until: float | None
    skills: dict[int, int]

    @property
    def offerable(self) -> bool:
        return (self.state == AVAILABLE and not self.unreachable and self.disconnected_at is None
                and not self.reservation)


def _now(now: float | None) -> float:
    return time.time() if now is None else float(now)


def _float(value: str | None) -> float | None:
    return float(value) if value else None


def iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat()


def count_in_states(r: redis.Redis, agent_ids: list[int], states: tuple[str, ...]) -> int:
    """How many of `agent_ids` are in one of `states` now: one round trip for the whole floor."""
    pipe = r.pipeline(transaction=False)
    for agent_id in agent_ids:
        pipe.hget(acd.agent_key(agent_id), "state")
    found = (s.decode() if isinstance(s, bytes) else s for s in pipe.execute())
    return sum(1 for state in found if (state or OFFLINE) in states)


def get_presence(r: redis.Redis, agent_id: int) -> AgentPresence:
    """The live presence of an agent (offline when never seen)."""
    h = acd.agent_hash(r, agent_id)
    return AgentPresence(
        agent_id=agent_id,
        state=h.get("state") or OFFLINE,
        since=_float(h.get("since")),
        reason=h.get("reason") or None,
        idle_since=_float(h.get("idle_since")),
        unreachable=h.get("unreachable") == "1",
        disconnected_at=_float(h.get("disconnected_at")),
        current_call=h.get("current_call") or None,
        reservation=h.get("reservation") or None,
        wrap_up_until=_float(h.get("wrap_up_until")),
        skills={int(k): int(v) for k, v in json.loads(h.get("skills") or "{}").items()},
    )


def refresh_agent(session: Session, r: redis.Redis, agent_id: int) -> dict[int, int]:
    """Cache the agent's skill levels in Redis (on login, and whenever an admin edits them)."""
    user = session.get(User, agent_id)
    if user is None:
        raise NotFound(t('Agent %(agent_id)s not found', agent_id=agent_id), field="agent_id")
    skills = {
        skill_id: level
        for skill_id, level in session.execute(
            select(UserSkill.skill_id, UserSkill.level).where(UserSkill.user_id == agent_id)
        )
    }
    acd.set_agent_flag(r, agent_id, "skills", acd.skills_json(skills))
    return skills


def _check_reason(reason: str | None, required: bool) -> str | None:
    if reason is None or reason == "":
        if required:
            raise ValidationFailed(t('Away needs a reason code (e.g. break, lunch, meeting)'), field="reason")
        return None
    if not REASON_PATTERN.match(reason):
        raise ValidationFailed(
            t("A reason code is 1-60 lowercase letters, digits, '_', '-' or '.'"), field="reason"
        )
    return reason


def _apply(
    session: Session, r: redis.Redis, agent_id: int, to_state: str, reason: str | None, now: float,
    allowed_from: tuple[str, ...], only_when_wrap_up_over: bool = False,
) -> tuple[str, bool]:
    """Compare-and-set in Redis, then persist the log; raises IllegalTransition. Returns (from_state, changed)."""
    outcome, from_state = acd.set_agent_state(r, agent_id, to_state, allowed_from, now, reason,
                                              only_when_wrap_up_over)
    if outcome == "illegal":
        raise IllegalTransition(_illegal_message(from_state, to_state), from_state, to_state)
    flush_log(session, r)
    return from_state, outcome == "ok"


def _illegal_message(from_state: str, to_state: str) -> str:
    if from_state == ON_CALL:
        return f"Cannot go {to_state} during a call; finish the call first"
    if from_state == RESERVED:
        return f"Cannot go {to_state} while a call is being offered; accept or decline it first"
    return f"Cannot go from {from_state} to {to_state}"


def login(
    session: Session, r: redis.Redis, agent_id: int, now: float | None = None, state: str = AVAILABLE,
    reason: str | None = None,
) -> AgentPresence:
    """Start (or resume) an agent's shift: cache their skills, clear a pending disconnect, enter `state`.

    Logging in again while already working (a second tab, a reconnect) keeps the current state.
    """
    now = _now(now)
    if state not in (AVAILABLE, AWAY):
        raise ValidationFailed(t('An agent logs in as available or away'), field="state")
    reason = _check_reason(reason, required=state == AWAY)
    user = session.get(User, agent_id)
    if user is None:
        raise NotFound(t('Agent %(agent_id)s not found', agent_id=agent_id), field="agent_id")
    if not user.active:
        raise Conflict(t('User %(username)s is deactivated', username=user.username), field="agent_id")
    refresh_agent(session, r, agent_id)
    reconnected(session, r, agent_id, now)
    if get_presence(r, agent_id).state == OFFLINE:
        _apply(session, r, agent_id, state, reason or "login", now, allowed_from=(OFFLINE,))
    return get_presence(r, agent_id)


def change_state(
    session: Session, r: redis.Redis, agent_id: int, to_state: str, reason: str | None = None,
    now: float | None = None,
) -> AgentPresence:
    """A change the agent (or a supervisor) asks for: available, away (with a reason code) or offline.

    Asking for the current state is a no-op. Reserved/on-call states refuse (IllegalTransition).
    """
    now = _now(now)
    if to_state not in REQUESTABLE:
        raise ValidationFailed(t('State must be one of %(value)s', value=', '.join(REQUESTABLE)), field="state")
    reason = _check_reason(reason, required=to_state == AWAY)
    _apply(session, r, agent_id, to_state, reason, now, allowed_from=REQUESTABLE[to_state])
    return get_presence(r, agent_id)


def logout(session: Session, r: redis.Redis, agent_id: int, now: float | None = None) -> AgentPresence:
    """End the shift; refused during a call or an offer, so a call in progress is never lost."""
    return change_state(session, r, agent_id, OFFLINE, "logout", now)


def finish_wrap_up(session: Session, r: redis.Redis, agent_id: int, now: float | None = None) -> AgentPresence:
    """The agent is done with after-call work before the timer ends."""
    now = _now(now)
    _apply(session, r, agent_id, AVAILABLE, "wrap_up_done", now, allowed_from=(WRAP_UP,))
    return get_presence(r, agent_id)


def end_expired_wrapups(session: Session, r: redis.Redis, now: float | None = None) -> list[int]:
    """Move agents whose wrap-up timer is over to available; returns their ids (run every second or so)."""
    now = _now(now)
    done = []
    for agent_id in acd.due_wrap_ups(r, now):
        outcome, _ = acd.set_agent_state(r, agent_id, AVAILABLE, (WRAP_UP,), now, "wrap_up_timer",
                                         only_when_wrap_up_over=True)
        if outcome == "ok":
            done.append(agent_id)
        elif outcome == "illegal":
            # Left wrap-up some other way; make sure the timer index forgets them.
            r.zrem(acd.WRAPUPS, agent_id)
    flush_log(session, r)
    return done


def set_unreachable(r: redis.Redis, agent_id: int, unreachable: bool, now: float | None = None) -> AgentPresence:
    """Flag an agent whose heartbeat failed (or clear it): the state is kept, no call is offered meanwhile."""
    now = _now(now)
    acd.set_agent_flag(r, agent_id, "unreachable", "1" if unreachable else None)
    presence = get_presence(r, agent_id)
    publish("agent.reachability_changed", agent_id=agent_id, unreachable=presence.unreachable,
            disconnected=presence.disconnected_at is not None, state=presence.state, at=iso(now))
    return presence


def disconnected(session: Session, r: redis.Redis, agent_id: int, now: float | None = None) -> AgentPresence:
    """The agent's socket went away: no offers now; offline after the grace period unless they come back."""
    now = _now(now)
    if get_presence(r, agent_id).state == OFFLINE:
        return get_presence(r, agent_id)
    acd.set_agent_flag(r, agent_id, "disconnected_at", repr(now), acd.DISCONNECTED, now)
    presence = get_presence(r, agent_id)
    publish("agent.reachability_changed", agent_id=agent_id, unreachable=presence.unreachable,
            disconnected=True, state=presence.state, at=iso(now))
    return presence


def reconnected(session: Session, r: redis.Redis, agent_id: int, now: float | None = None) -> AgentPresence:
    """The socket is back within the grace period: the agent continues in the state they had."""
    now = _now(now)
    was = get_presence(r, agent_id)
    if was.disconnected_at is None:
        return was
    acd.set_agent_flag(r, agent_id, "disconnected_at", None, acd.DISCONNECTED)
    presence = get_presence(r, agent_id)
    publish("agent.reachability_changed", agent_id=agent_id, unreachable=presence.unreachable,
            disconnected=False, state=presence.state, at=iso(now))
    return presence


@dataclass(frozen=True)
class DisconnectOutcome:
    agent_id: int
    state: str  # offline, or on_call when kept on a call in progress
    previous: str
    released_call_sid: str | None = None  # an offer taken back from the agent, to be offered again


def expire_disconnected(
    session: Session, r: redis.Redis, now: float | None = None,
    grace_seconds: float = DEFAULT_DISCONNECT_GRACE_SECONDS,
) -> list[DisconnectOutcome]:
    """Agents disconnected longer than the grace period go offline; an agent on a call stays on it.

    A pending offer is taken back and its call returns to its place (routing.tick re-offers it).
    """
    now = _now(now)
    outcomes = []
    for agent_id in acd.due_disconnected(r, now - grace_seconds):
        result = acd.expire_disconnected_agent(r, agent_id, now, now - grace_seconds)
        if result is None:
            continue
        outcomes.append(DisconnectOutcome(
            agent_id=agent_id,
            state=result["state"],
            previous=result.get("previous", result["state"]),
            released_call_sid=result.get("released_call_sid"),
        ))
    flush_log(session, r)
    return outcomes


FLUSH_JOB_KEY = "agent-state-log"


def has_unflushed(r: redis.Redis) -> bool:
    """Transitions are waiting in Redis's log for `flush_log`."""
    return bool(r.llen(acd.STATE_LOG))


def flush_log_later(session: Session) -> None:
    """Have a job run `flush_log` once this transaction commits: the state history (and its
    "agent.state_changed" pushes) off the webhook's path. The transitions wait in Redis meanwhile."""
    jobs.defer(session, "workers.agents.flush_state_log", key=FLUSH_JOB_KEY, coalesce=True, timeout=60)


def flush_log(session: Session, r: redis.Redis, limit: int = 500) -> list[AgentStateChange]:
    """Move logged transitions from Redis to `agent_state_changes` (commits), then publish them as events.

    On a database error the transitions go back to the head of the Redis list and the error propagates.
    """
    persisted: list[AgentStateChange] = []
    while True:
        entries = acd.pop_state_log(r, limit)
        if not entries:
            return persisted
        try:
            known = set(session.scalars(select(User.id).where(User.id.in_({e["agent_id"] for e in entries}))))
            rows = [_row(e) for e in entries if e["agent_id"] in known]
            for dropped in (e for e in entries if e["agent_id"] not in known):
                log.warning("dropping state change of unknown agent %s", dropped["agent_id"])
            session.add_all(rows)
            session.commit()
        except Exception:
            session.rollback()
            acd.restore_state_log(r, entries)
            raise
        for row in rows:
            publish(
                "agent.state_changed",
                agent_id=row.agent_id,
                state=row.to_state,
                from_state=row.from_state,
                reason=row.reason,
                since=row.occurred_at.isoformat(),
                call_sid=row.call_sid,
            )
        persisted += rows
        if len(entries) < limit:
            return persisted


def _row(entry: dict[str, Any]) -> AgentStateChange:
    return AgentStateChange(
        agent_id=int(entry["agent_id"]),
        from_state=entry["from_state"],
        to_state=entry["to_state"],
        reason=entry.get("reason"),
        occurred_at=datetime.fromtimestamp(float(entry["at"]), UTC),
        call_sid=entry.get("call_sid"),
        details=entry.get("details") or {},
    )
