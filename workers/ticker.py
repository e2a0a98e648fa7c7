"""The housekeeping loop: once a second, one process (whichever holds a short Redis lease) moves the ACD along.

Unacknowledged pops, offer and wrap-up timeouts, lost sockets, due callbacks, customers whose agent did not rejoin
in time, heartbeats and the state repairs must happen on time even when no request arrives; the daily backup is
enqueued from here too, once a day whatever the number of workers. Every worker runs a
ticker; the lease makes sure only one acts per second, and if its process dies another takes over within a second.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from dataclasses import dataclass
from datetime import datetime

import redis
from flask import Flask

from callcenter.extensions import db
from callcenter.jobs import enqueue
from callcenter.redis_conn import get_redis
from callcenter.services import agent_legs, callbacks, dialer, offers, reachability, reconcile, routing
from callcenter.services.dialing_gate import DialRules
from callcenter.services.events import publish
from callcenter.services.jobs import Deferred
from callcenter.telephony import get_provider, links
from workers import calls as call_jobs
from workers import reports as report_jobs
from workers import rfm as rfm_jobs
from workers import tickets as ticket_jobs

log = logging.getLogger(__name__)

LEASE_KEY = "cc:ticker:lease"
LAST_HEARTBEAT_KEY = "cc:ticker:last_heartbeat"
LAST_RECONCILE_KEY = "cc:ticker:last_reconcile"
BACKUP_DAY_KEY = "cc:backup:day:{day}"
BACKUP_JOB = "workers.backups.daily_backup"
BACKUP_TIMEOUT_SECONDS = 3600
DIALER_JOB = "workers.dialer.dial_running_campaigns"
DERIVE_SWEEP_JOB = "workers.calls.derive_lagging_calls"
LAST_DERIVE_SWEEP_KEY = "cc:ticker:last_derive_sweep"
DERIVE_SWEEP_INTERVAL_SECONDS = 60.0


@dataclass(frozen=True)
class TickSettings:
    disconnect_grace_seconds: float = 30.0
    heartbeat_interval_seconds: float = 5.0
    heartbeat_timeout_seconds: float = 15.0
    reconcile_interval_seconds: float = 30.0

    @classmethod
    def from_app(cls, app: Flask) -> TickSettings:
        return cls(
            disconnect_grace_seconds=app.config["AGENT_DISCONNECT_GRACE_SECONDS"],
            heartbeat_interval_seconds=app.config["AGENT_HEARTBEAT_SECONDS"],
            heartbeat_timeout_seconds=app.config["AGENT_HEARTBEAT_TIMEOUT_SECONDS"],
            reconcile_interval_seconds=app.config["RECONCILE_INTERVAL_SECONDS"],
        )


def _heartbeat_slots(r: redis.Redis, interval: int, now: float) -> set[int]:
    """The slots (agent id modulo `interval`) whose turn came since the last pass: one per second, so each agent
    is pinged every `interval` seconds and the floor's answers are spread over it. A pass that comes late covers
    the seconds it missed; the first pass ever pings everybody."""
    interval = max(int(interval), 1)
    second = int(now)
    last = r.get(LAST_HEARTBEAT_KEY)
    first = second - interval + 1
    if last is not None:
        with contextlib.suppress(ValueError):
            first = max(int(float(last)) + 1, first)
    if first > second:
        return set()
    r.set(LAST_HEARTBEAT_KEY, second)
    return {s % interval for s in range(first, second + 1)}


def _due(r: redis.Redis, key: str, interval: float, now: float) -> bool:
    last = r.get(key)
    if last is not None and now - float(last) < interval:
        return False
    r.set(key, repr(now))
    return True


def backup_day_due(hour: int, now: float) -> str | None:
    """The local date whose daily backup may run at `now`: today's, once the clock passed `hour`; else None."""
    local = datetime.fromtimestamp(now)
    return local.date().isoformat() if local.hour >= hour else None


def schedule_daily_backup(app: Flask, r: redis.Redis, now: float) -> bool:
    """Enqueue today's backup job if nobody did yet (a key per day, set only once across every worker)."""
    if not app.config["BACKUP_DAILY"]:
        return False
    day = backup_day_due(app.config["BACKUP_HOUR"], now)
    if day is None:
        return False
    key = BACKUP_DAY_KEY.format(day=day)
    if not r.set(key, repr(now), nx=True, ex=3 * 24 * 3600):
        return False
    try:
        enqueue(app, [Deferred(BACKUP_JOB, (day,), key=f"daily-backup-{day}", queue="maintenance",
                               timeout=BACKUP_TIMEOUT_SECONDS)])
    except redis.RedisError:
        r.delete(key)  # not enqueued: the next pass tries again
        raise
    return True


def tick(app: Flask, now: float | None = None) -> None:
    """One pass; safe to run from any process at any time (every step is idempotent)."""
    now = time.time() if now is None else now
    settings = TickSettings.from_app(app)
    r = get_redis(app)
    with app.app_context():
        session = db.session
        try:
            offers.expire_unacknowledged(session, r, now)
            routing.tick(session, r, now, settings.disconnect_grace_seconds)
            callbacks.release_due_callbacks(session, r, now, rules=DialRules.from_config(app.config))
            for entry_id in agent_legs.claim_orphans(r, now):
                agent_legs.expire_orphan(session, r, get_provider(app), entry_id, webhook_url=links.webhook_url)
            slots = _heartbeat_slots(r, settings.heartbeat_interval_seconds, now)
            if slots:
                reachability.flag_unresponsive(r, now, settings.heartbeat_timeout_seconds)
                nonce, agent_ids = reachability.heartbeat_targets(r, slots, settings.heartbeat_interval_seconds)
                if agent_ids:  # one message for the slot, not one per agent: each web process decodes every one
                    publish("agents.heartbeat", agent_ids=agent_ids, nonce=nonce)
            if _due(r, LAST_RECONCILE_KEY, settings.reconcile_interval_seconds, now):
                reconcile.repair_agent_states(session, r, now)
            if _due(r, LAST_DERIVE_SWEEP_KEY, DERIVE_SWEEP_INTERVAL_SECONDS, now):
                enqueue(app, [Deferred(DERIVE_SWEEP_JOB, (), key=call_jobs.DERIVE_SWEEP_KEY, queue="maintenance",
                                       timeout=120, coalesce=True)])
            schedule_daily_backup(app, r, now)
            ticket_jobs.schedule_escalation(app, r, now)
            rfm_jobs.schedule_rfm(app, r, now)
            report_jobs.schedule_reports(app, r, now)
            # The dialer's pass: coalesced (one waits in the queue at most) and it skips while another runs.
            if dialer.any_running_auto_campaign(session):
                enqueue(app, [Deferred(DIALER_JOB, (), key="dialer-pass", queue="dialer", timeout=30, coalesce=True)])
        finally:
            db.session.remove()


class Ticker:
    """Runs `tick` every `interval` seconds in a daemon thread while holding the lease."""

    def __init__(self, app: Flask, interval: float = 1.0) -> None:
        self.app = app
        self.interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="callcenter-ticker", daemon=True)

    def start(self) -> Ticker:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    @property
    def lease_ms(self) -> int:
        """A little shorter than the interval, so the holder can take it again on its next pass."""
        return int(self.interval * 1000 * 0.9)

    def _run(self) -> None:
        r = get_redis(self.app)
        while not self._stop.is_set():
            started = time.monotonic()
            try:
                if r.set(LEASE_KEY, "1", nx=True, px=self.lease_ms):
                    tick(self.app)
            except redis.RedisError as exc:
                log.warning("ticker: Redis unavailable (%s); retrying", exc)
            except Exception:
                log.exception("ticker pass failed")
            self._stop.wait(max(self.interval - (time.monotonic() - started), 0.05))
