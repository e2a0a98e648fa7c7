"""Ticket escalation: a job the ticker enqueues once a minute (at most one per minute, whatever the workers)."""

from __future__ import annotations

from datetime import datetime

import redis
from flask import Flask

from callcenter.services import tickets
from callcenter.services.jobs import Deferred
from workers.jobs import enqueue_once, job_session

ESCALATION_JOB = "workers.tickets.escalate_due_tickets"
ESCALATION_MINUTE_KEY = "cc:tickets:escalation:{minute}"
ESCALATION_TIMEOUT_SECONDS = 120


def escalate_due_tickets(now: datetime | str | None = None) -> dict[str, list[int]]:
    """Warn and reassign the tickets whose SLA moments have come (services.tickets.escalate_due); running it
    twice, or in two workers at once, escalates each ticket once per level. `now` (a datetime or ISO text) lets
    tests move time forward."""
    moment = datetime.fromisoformat(now) if isinstance(now, str) else now
    with job_session() as session:
        done = tickets.escalate_due(session, moment)
    return {"warned": done.warned, "reassigned": done.reassigned}


def schedule_escalation(app: Flask, r: redis.Redis, now: float) -> bool:
    """Enqueue this minute's escalation pass unless a worker's ticker did (a key per minute, set once)."""
    minute = int(now // 60)
    return enqueue_once(app, r, ESCALATION_MINUTE_KEY.format(minute=minute),
                        Deferred(ESCALATION_JOB, (), key=f"ticket-escalation-{minute}", queue="default",
                                 timeout=ESCALATION_TIMEOUT_SECONDS), 180, now)
