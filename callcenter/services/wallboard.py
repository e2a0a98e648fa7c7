"""What the supervisor wallboard shows: every queue's live figures, every agent's state and time in state, and
every running campaign's dialing (services.dialer.campaign_figures)."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

import redis
from sqlalchemy import select, true
from sqlalchemy.orm import Session

from callcenter.models import Queue, Role, User
from callcenter.services import acd, agent_state, dialer, queue_stats, scope
from callcenter.services.metrics import Thresholds


def queue_snapshot(session: Session, r: redis.Redis, queue: Queue, now: float,
                   thresholds: Thresholds | None = None) -> dict[str, Any]:
    stats = acd.queue_stats(r, queue.id, now)
    day = queue_stats.today(session, queue, datetime.fromtimestamp(now, UTC), thresholds)
    return {
        **queue_stats.as_dict(day),
        "queue_id": queue.id,
        "name": queue.name,
        "waiting": stats.waiting,
        "in_queue": stats.in_queue,
        "longest_wait": round(stats.longest_wait, 1),
        "service_level_target": queue.service_level_target,
        "service_level_seconds": queue.service_level_seconds,
    }


def agent_snapshot(r: redis.Redis, user: User, now: float) -> dict[str, Any]:
    presence = agent_state.get_presence(r, user.id)
    return {
        "agent_id": user.id,
        "name": user.full_name,
        "team": user.team.name if user.team else None,
        "state": presence.state,
        "reason": presence.reason,
        "seconds_in_state": round(now - presence.since, 1) if presence.since else None,
        "unreachable": presence.unreachable,
        "disconnected": presence.disconnected_at is not None,
        "current_call": presence.current_call or presence.reservation,
    }


def snapshot(session: Session, r: redis.Redis, now: float | None = None, viewer: User | None = None,
             thresholds: Thresholds | None = None) -> dict[str, Any]:
    """Every active queue, and the agents `viewer` may see (a supervisor their teams', an admin all; everyone
    when no viewer is given). Queues are shared by the teams, so every supervisor sees them all. `thresholds`:
    the report settings (short abandons, FCR days), so the board's figures are the reports'."""
    now = time.time() if now is None else now
    queues = session.scalars(select(Queue).where(Queue.active.is_(True)).order_by(Queue.name)).all()
    visible = scope.users(viewer) if viewer is not None else true()
    agents = session.scalars(
        select(User).where(User.active.is_(True), User.role == Role.AGENT.value, visible).order_by(User.full_name)
    ).all()
    return {
        "queues": [queue_snapshot(session, r, q, now, thresholds) for q in queues],
        "agents": [agent_snapshot(r, a, now) for a in agents],
        "campaigns": dialer.running_campaigns_figures(session, r, now),
        "at": now,
    }
