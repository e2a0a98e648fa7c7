"""/healthz: database, Redis and worker heartbeat, each with its state; 503 when any is down.

/ping: the bare route, touching neither the database, Redis nor the session; the benchmark's yardstick for what
the web server itself costs per request, against which each webhook's latency is a ratio."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from flask import Blueprint, Flask, Response, current_app
from rq import Queue, Worker
from rq.registry import FailedJobRegistry
from sqlalchemy import text

from callcenter.extensions import csrf, db
from callcenter.jobs import QUEUES
from callcenter.redis_conn import get_redis

bp = Blueprint("health", __name__)


def _check_database() -> dict[str, Any]:
    try:
        db.session.execute(text("SELECT 1"))
        return {"ok": True, "backend": db.engine.dialect.name}
    except Exception as exc:  # any driver error means "down"; the message says why
        return {"ok": False, "error": str(exc).splitlines()[0]}


def _check_redis() -> dict[str, Any]:
    try:
        get_redis().ping()
        return {"ok": True}
    except Exception as exc:
        return {"ok": False, "error": str(exc)}


def _check_workers() -> dict[str, Any]:
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
    checks = {"database": _check_database(), "redis": _check_redis(), "worker": _check_workers()}
    healthy = all(check["ok"] for check in checks.values())
    return {"status": "ok" if healthy else "degraded", "checks": checks, "jobs": _failed_jobs()}, \
        200 if healthy else 503


@bp.get("/ping")
def ping() -> Response:
    """204 and nothing else: no login, no session, no database, no Redis."""
    return Response(status=204)


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
