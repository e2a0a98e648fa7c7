"""/healthz: database, Redis and worker heartbeat, each with its state; 503 when any is down.

Anyone (a load balancer, a monitor) gets ok/degraded per component and nothing more: driver errors name hosts,
users and paths. A signed-in admin gets the details (errors, backend, worker names, failed jobs); every failing
check is also logged here, for operators without a browser.

/ping: the bare route, touching neither the database, Redis nor the session; the benchmark's yardstick for what
the web server itself costs per request, against which each webhook's latency is a ratio."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any

from flask import Blueprint, Flask, Response, current_app
from flask_login import current_user
from rq import Queue, Worker
from rq.registry import FailedJobRegistry
from sqlalchemy import text

from callcenter.extensions import csrf, db
from callcenter.jobs import QUEUES
from callcenter.models import Role
from callcenter.redis_conn import get_redis

log = logging.getLogger(__name__)
bp = Blueprint("health", __name__)


def check_database() -> dict[str, Any]:
    try:
        db.session.execute(text("SELECT 1"))
        return {"ok": True, "backend": db.engine.dialect.name}
    except Exception as exc:  # any driver error means "down"; the message says why
        return {"ok": False, "error": str(exc).splitlines()[0]}


def check_redis() -> dict[str, Any]:
    try:
        get_redis().ping()
        return {"ok": True}
    except Exception as exc:
        return {"ok": False, "error": str(exc)}


def check_workers() -> dict[str, Any]:
    """A worker is alive when RQ's own heartbeat is fresher than its TTL."""
    try:
        workers = Worker.all(connection=get_redis())
    except Exception as exc:
        return {"ok": False, "error": str(exc), "alive": 0}
    limit = datetime.now(UTC) - timedelta(seconds=current_app.config["WORKER_TTL_SECONDS"] + 15)
    alive = []
    for worker in workers:
        beat = worker.last_heartbeat
        if beat is not None and beat.replace(tzinfo=beat.tzinfo or UTC) >= limit:
            alive.append(worker.name)
    result: dict[str, Any] = {"ok": bool(alive), "alive": len(alive), "workers": sorted(alive)}
    if not alive:
        result["error"] = "no RQ worker has sent a heartbeat recently"
    return result


def _failed_jobs() -> dict[str, Any]:
    """Jobs that failed every retry wait in RQ's failed registry of their queue: counted here, for operators
    (`rq info` and RQ's API list and requeue them). Not a health check: failed jobs do not degrade the service."""
    try:
        r = get_redis()
        return {"failed": {name: FailedJobRegistry(queue=Queue(name, connection=r)).count for name in QUEUES}}
    except Exception as exc:
        return {"error": str(exc)}


@bp.get("/healthz")
@csrf.exempt
def healthz():
    checks = {"database": check_database(), "redis": check_redis(), "worker": check_workers()}
    healthy = all(check["ok"] for check in checks.values())
    status = 200 if healthy else 503
    for name, check in checks.items():
        if not check["ok"]:
            log.warning("healthz: %s is down: %s", name, check.get("error"))
    summary = "ok" if healthy else "degraded"
    if not _is_admin():
        return {"status": summary, "checks": {name: {"ok": check["ok"]} for name, check in checks.items()}}, status
    return {"status": summary, "checks": checks, "jobs": _failed_jobs()}, status


def _is_admin() -> bool:
    """Details for an admin only; a broken database must not turn the public answer into a 500."""
    try:
        return bool(current_user.is_authenticated and current_user.role == Role.ADMIN.value)
    except Exception:
        db.session.rollback()
        return False


@bp.get("/ping")
def ping() -> Response:
    """204 and nothing else: no login, no session, no database, no Redis."""
    return Response(status=204)


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
