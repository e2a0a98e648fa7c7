"""Routing and dialing traces: for any call, why it went to that queue and that agent, or why it was dialled then.

Captured WHEN THE DECISION IS TAKEN, cheaply, and persisted off the hot path:

    queued     routing.enqueue_call has the ACD's enqueue script append the queue choice (IVR path, priority and
               its reasons, sticky agent, required skills) to a Redis list as it adds the entry;
    offered    the ACD's reserve script appends the decision itself (the rule that chose, the first few
               candidates of the index set it walked with their levels and idle times) in the same atomic step;
    dialled    the dialer (a worker, not a webhook) writes the pacing inputs straight to the database.

A coalesced job (`flush_later`, the pattern of agent_state.flush_log) moves the Redis records into
`routing_traces`. Capture never fails a webhook: a record the scripts cannot append is dropped and the decision
goes on untraced; a database error puts the records back in Redis for the next run.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import redis
from sqlalchemy import select
from sqlalchemy.orm import Session

from callcenter.models import Call, Queue, Role, RoutingTrace, Skill, User
from callcenter.services import acd, jobs, scope
from callcenter.services.errors import Forbidden, NotFound
from callcenter.services.messages import Message, t

log = logging.getLogger(__name__)

FLUSH_JOB_KEY = "routing-trace-log"
FLUSH_DELAY_SECONDS = 1  # one flush a second or two at most, whatever the number of decisions
FLUSH_JOB = "workers.trace.flush_routing_trace"

RULE_LABELS = {
    "vip": t("VIP caller"),
    "open_urgent_ticket": t("open urgent ticket"),
    "repeat_caller_24h": t("called in the last 24 hours"),
}


# --- Capture (hot path: inside the ACD's scripts, never fails the decision) -----------------------------------


def queued_record(*, call_sid: str, queue_id: int, queue_name: str, at: float, priority: int, base_priority: int,
                  boost: int, reasons: dict[str, int], sticky_agent_id: int | None, sticky_wait_seconds: int,
                  required: dict[int, int], language: str | None, ivr_path: list[Any] | None,
                  requeued: bool = False) -> dict[str, Any]:
    """The queue choice as routing.enqueue_call took it (`reasons`: rule -> the weight it added)."""
    return {"kind": "queued", "call_sid": call_sid, "queue_id": queue_id, "queue_name": queue_name, "at": at,
            "priority": priority, "base_priority": base_priority, "boost": boost, "reasons": reasons,
            "sticky_agent_id": sticky_agent_id, "sticky_wait_seconds": sticky_wait_seconds if sticky_agent_id else 0,
            "required": {str(k): v for k, v in required.items()}, "language": language,
            "ivr_path": list(ivr_path or []), "requeued": requeued}


def flush_later(session: Session) -> None:
    """Have a job move the captured decisions into the database once this transaction commits."""
    jobs.defer(session, FLUSH_JOB, key=FLUSH_JOB_KEY, coalesce=True, timeout=60, delay_seconds=FLUSH_DELAY_SECONDS)


# --- Persistence (a job) ---------------------------------------------------------------------------------------


def _dedupe_key(record: dict[str, Any]) -> str:
    return f"{record['kind']}:{record['call_sid']}:{float(record['at']):.3f}:{record.get('agent_id') or ''}"[:160]


def flush(session: Session, r: redis.Redis, limit: int = 500) -> int:
    """Move captured decisions from Redis to `routing_traces` (commits); returns how many rows were written.

    Idempotent: a decision already stored (a job that ran twice) is not stored again. On a database error the
    records go back to the head of the Redis list and the error propagates (the job is retried)."""
    written = 0
    while True:
        raw = r.lpop(acd.TRACE_LOG, limit)
        if not raw:
            return written
        records = []
        for item in raw:
            try:
                records.append(json.loads(item))
            except ValueError:
                log.warning("dropping an unreadable routing trace record")
        try:
            written += _store(session, records)
            session.commit()
        except Exception:
            session.rollback()
            r.lpush(acd.TRACE_LOG, *[json.dumps(rec) for rec in reversed(records)])
            raise


def _store(session: Session, records: list[dict[str, Any]]) -> int:
    keys = {_dedupe_key(rec): rec for rec in records if rec.get("call_sid") and rec.get("kind")}
    if not keys:
        return 0
    known = set(session.scalars(select(RoutingTrace.dedupe_key).where(RoutingTrace.dedupe_key.in_(keys))))
    fresh = {k: rec for k, rec in keys.items() if k not in known}
    agents = set(session.scalars(select(User.id).where(
        User.id.in_({rec["agent_id"] for rec in fresh.values() if rec.get("agent_id")}))))
    queue_ids = set(session.scalars(select(Queue.id).where(
        Queue.id.in_({rec["queue_id"] for rec in fresh.values() if rec.get("queue_id")}))))
    for key, rec in fresh.items():
        details = {k: v for k, v in rec.items() if k not in ("kind", "call_sid", "at")}
        session.add(RoutingTrace(
            call_sid=str(rec["call_sid"])[:80], kind=rec["kind"], dedupe_key=key, details=details,
            decided_at=datetime.fromtimestamp(float(rec["at"]), UTC),
            agent_id=rec.get("agent_id") if rec.get("agent_id") in agents else None,
            queue_id=rec.get("queue_id") if rec.get("queue_id") in queue_ids else None))
    return len(fresh)


def record_dial(session: Session, *, call_sid: str, campaign_id: int, mode: str, at: datetime,
                inputs: dict[str, Any], reason: str, queue_id: int | None = None,
                agent_id: int | None = None) -> None:
    """The dialer's reason for placing this call now (added to the caller's transaction)."""
    details = {"campaign_id": campaign_id, "mode": mode, "reason": reason, "inputs": inputs}
    session.add(RoutingTrace(call_sid=call_sid, kind="dialled", decided_at=at, queue_id=queue_id, agent_id=agent_id,
                             dedupe_key=f"dialled:{call_sid}"[:160], details=details))


# --- Reading (call page and API) -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Candidate:
    agent_id: int
    name: str
    levels: list[tuple[str, int]]  # (skill name, level) for each required skill
    idle_seconds: float | None  # idle for this long when the decision was taken
    eligible: bool
    declined: bool
    chosen: bool


@dataclass(frozen=True)
class TraceStep:
    kind: str
    decided_at: datetime
    queue_id: int | None
    agent_id: int | None
    lines: list[Message]  # why, in words
    candidates: list[Candidate] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)


def visible_call(session: Session, viewer: User, call_sid: str) -> Call:
    """The call whose trace `viewer` asks for. Agents: only their own calls (Forbidden otherwise, since a trace
    names the other agents considered); supervisors their teams', admins all (NotFound out of scope)."""
    call = session.scalar(select(Call).where(Call.call_sid == call_sid))
    if call is None:
        raise NotFound(t("Call %(call_sid)s not found", call_sid=call_sid[:64]), field="call_sid")
    if viewer.role == Role.AGENT.value and call.agent_id != viewer.id:
        raise Forbidden(t("Agents see the routing trace of their own calls only"))
    if session.scalar(select(Call.id).where(Call.id == call.id, scope.calls(viewer))) is None:
        raise NotFound(t("Call %(call_sid)s not found", call_sid=call_sid[:64]), field="call_sid")
    return call


def call_trace(session: Session, viewer: User, call_sid: str) -> list[TraceStep]:
    """Every routing or dialing decision taken for the call (its callback entry too), oldest first."""
    call = visible_call(session, viewer, call_sid)
    return trace_steps(session, call.call_sid)


def trace_steps(session: Session, call_sid: str) -> list[TraceStep]:
    """The stored decisions of one call (no scope check: callers check it), explained."""
    rows = list(session.scalars(select(RoutingTrace).where(RoutingTrace.call_sid.in_((call_sid, f"cb-{call_sid}")))
                                .order_by(RoutingTrace.decided_at, RoutingTrace.id)))
    agent_ids: set[int] = set()
    skill_ids: set[int] = set()
    for row in rows:
        d = row.details or {}
        agent_ids.update(int(a) for a in (row.agent_id, d.get("sticky_agent_id")) if a)
        agent_ids.update(int(c["agent_id"]) for c in d.get("candidates") or [] if c.get("agent_id"))
        skill_ids.update(int(s) for s in (d.get("required") or {}))
    names: dict[int, str] = {}
    skills: dict[int, str] = {}
    if agent_ids:
        names = {i: n for i, n in session.execute(select(User.id, User.full_name).where(User.id.in_(agent_ids)))}
    if skill_ids:
        skills = {i: n for i, n in session.execute(select(Skill.id, Skill.name).where(Skill.id.in_(skill_ids)))}

    def name(agent_id: Any) -> str:
        return names.get(int(agent_id), f"#{agent_id}") if agent_id else "—"

    return [_explain(row, name, skills) for row in rows]


def _explain(row: RoutingTrace, name: Any, skills: dict[int, str]) -> TraceStep:
    d = row.details or {}
    lines: list[Message] = []
    candidates: list[Candidate] = []
    if row.kind == "queued":
        path = " → ".join(str(s.get("node", s) if isinstance(s, dict) else s) for s in d.get("ivr_path") or [])
        lines.append(t("Queue %(queue)s, chosen by the IVR path: %(path)s", queue=d.get("queue_name", ""),
                       path=path or "—"))
        parts = [t("base %(base)d", base=d.get("base_priority", 0))]
        parts += [t("%(rule)s +%(weight)d", rule=RULE_LABELS.get(rule, rule), weight=weight)
                  for rule, weight in (d.get("reasons") or {}).items()]
        if d.get("boost"):
            parts.append(t("route boost +%(boost)d", boost=d["boost"]))
        lines.append(t("Priority %(priority)d: %(parts)s", priority=d.get("priority", 0),
                       parts=", ".join(parts)))
        if d.get("sticky_agent_id"):
            lines.append(t("Sticky agent: %(agent)s served this caller last; held for them up to %(seconds)d s",
                           agent=name(d["sticky_agent_id"]), seconds=d.get("sticky_wait_seconds", 0)))
        if d.get("required"):
            lines.append(t("Required skills: %(skills)s", skills=_levels_text(d["required"], skills)))
    elif row.kind == "offered":
        at = row.decided_at.timestamp()
        for c in d.get("candidates") or []:
            idle = c.get("idle_since")
            candidates.append(Candidate(
                agent_id=int(c["agent_id"]), name=name(c["agent_id"]),
                levels=[(skills.get(int(s), f"#{s}"), int(v)) for s, v in (c.get("levels") or {}).items()],
                idle_seconds=max(at - float(idle), 0.0) if idle else None, eligible=bool(c.get("eligible")),
                declined=bool(c.get("declined")), chosen=int(c["agent_id"]) == row.agent_id))
        chosen = next((c for c in candidates if c.chosen), None)
        rule = d.get("rule")
        if rule == "sticky":
            lines.append(t("Offered to %(agent)s: the sticky agent (served this caller last) was available",
                           agent=name(row.agent_id)))
        elif rule == "declined_before":
            lines.append(t("Offered again to %(agent)s: every eligible agent had already declined this call",
                           agent=name(row.agent_id)))
        else:
            lines.append(t("Offered to %(agent)s: the longest idle of the agents meeting the required skills "
                           "(idle %(seconds)d s)", agent=name(row.agent_id),
                           seconds=int(chosen.idle_seconds or 0) if chosen else 0))
            if d.get("sticky_agent_id"):
                lines.append(t("The sticky agent %(agent)s was not available", agent=name(d["sticky_agent_id"])))
        if d.get("required"):
            lines.append(t("Required skills: %(skills)s", skills=_levels_text(d["required"], skills)))
    elif row.kind == "dialled":
        inputs = d.get("inputs") or {}
        lines.append(t("Dialled by the %(mode)s dialer of campaign %(campaign)s: %(reason)s",
                       mode=d.get("mode", ""), campaign=d.get("campaign_id", ""), reason=d.get("reason", "")))
        lines.append(t("Agents free %(free)s, lines in flight %(flying)s, answer rate %(answer)s, abandon rate "
                       "%(abandon)s, lines per agent %(ratio)s",
                       free=inputs.get("agents_free", "—"), flying=inputs.get("lines_in_flight", "—"),
                       answer=_rate(inputs.get("answer_rate")), abandon=_rate(inputs.get("abandon_rate")),
                       ratio=inputs.get("lines_per_agent", "—")))
    return TraceStep(kind=row.kind, decided_at=row.decided_at, queue_id=row.queue_id, agent_id=row.agent_id,
                     lines=lines, candidates=candidates, details=d)


def _levels_text(required: dict[str, Any], skills: dict[int, str]) -> str:
    return ", ".join(f"{skills.get(int(s), f'#{s}')} ≥ {v}" for s, v in required.items())


def _rate(value: Any) -> str:
    return "—" if value is None else f"{float(value):.1%}"
