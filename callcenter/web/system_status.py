"""The system status page (admins): is every part up, how deep are the job queues, what failed, who is connected.

The same checks as /healthz (database, Redis, a live RQ worker), plus what an operator looks at next: each RQ
queue's depth and failed jobs (retried or discarded from here), consoles connected, calls that failed at the carrier
in the last hour, which carrier is in use, and the version and database migration.
"""

from __future__ import annotations

from datetime import timedelta
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from flask import Blueprint, Flask, abort, current_app, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required
from rq import Queue
from rq.exceptions import NoSuchJobError
from rq.job import Job
from rq.registry import FailedJobRegistry
from sqlalchemy import func, select

from callcenter.extensions import db
from callcenter.jobs import QUEUES
from callcenter.models import Call, Role, utcnow
from callcenter.redis_conn import get_redis
from callcenter.services import reachability
from callcenter.telephony import provider_mode
from callcenter.web.health import check_database, check_redis, check_workers

bp = Blueprint("system_status", __name__, url_prefix="/admin/status", template_folder="templates")

FAILED_SHOWN = 20


def _admin_only() -> None:
    if current_user.role != Role.ADMIN.value:
        abort(403)


def _queues() -> list[dict[str, Any]]:
    r = get_redis()
    rows = []
    for name in QUEUES:
        queue = Queue(name, connection=r)
        registry = FailedJobRegistry(queue=queue)
        failed = []
        for job in Job.fetch_many(registry.get_job_ids(0, FAILED_SHOWN - 1), connection=r):
            if job is not None:
                failed.append({"id": job.id, "name": job.func_name, "description": job.description or "",
                               "ended_at": job.ended_at, "error": (job.latest_result().exc_string or "")
                               .strip().splitlines()[-1:] if job.latest_result() else []})
        rows.append({"name": name, "waiting": queue.count, "failed_count": registry.count, "failed": failed})
    return rows


def _product_version() -> str:
    try:
        return version("callcenter")
    except PackageNotFoundError:
        return "unknown"


@bp.get("")
@login_required
def page():
    _admin_only()
    checks = {"database": check_database(), "redis": check_redis(), "worker": check_workers()}
    queues: list[dict[str, Any]] = []
    consoles = None
    if checks["redis"]["ok"]:
        queues = _queues()
        consoles = get_redis().zcard(reachability.CONNECTED)
    # Alembic (with Mako and Pygments) is imported here, not at module load: ~10 MB of every web process's memory
    # for a page an admin opens now and then.
    from callcenter import migrate

    carrier_failures = None
    current = None
    if checks["database"]["ok"]:
        since = utcnow() - timedelta(hours=1)
        carrier_failures = db.session.scalar(select(func.count()).select_from(Call).where(
            Call.status == "failed", Call.updated_at >= since))
        current = migrate.current_revision(db.engine)
    return render_template(
        "system_status.html", checks=checks, queues=queues, consoles=consoles, carrier_failures=carrier_failures,
        provider=provider_mode(current_app.config),
        product_version=_product_version(), migration=current, head=migrate.head_revision(),
    ), 200 if all(c["ok"] for c in checks.values()) else 503


def _failed_job(queue_name: str, job_id: str) -> tuple[FailedJobRegistry, str]:
    if queue_name not in QUEUES:
        abort(404)
    registry = FailedJobRegistry(queue=Queue(queue_name, connection=get_redis()))
    if job_id not in registry.get_job_ids():
        abort(404)
    return registry, job_id


@bp.post("/queues/<string(maxlength=40):queue_name>/failed/<string(maxlength=200):job_id>/retry")
@login_required
def retry(queue_name: str, job_id: str):
    """Put a failed job back on its queue (it runs again, with its retries)."""
    _admin_only()
    registry, job_id = _failed_job(queue_name, job_id)
    try:
        registry.requeue(job_id)
    except NoSuchJobError:
        abort(404)
    flash(_("Job %(id)s is queued again.", id=job_id), "info")
    return redirect(url_for("system_status.page"))


@bp.post("/queues/<string(maxlength=40):queue_name>/failed/<string(maxlength=200):job_id>/discard")
@login_required
def discard(queue_name: str, job_id: str):
    """Forget a failed job (its work will not be done)."""
    _admin_only()
    registry, job_id = _failed_job(queue_name, job_id)
    registry.remove(job_id, delete_job=True)
    flash(_("Job %(id)s was discarded.", id=job_id), "info")
    return redirect(url_for("system_status.page"))


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
