"""The callbacks pages: the list (agent: their own, supervisor: their team's, admin: all) with filters and CSV
export, one callback with every dial attempt and the forms that reschedule, reassign or cancel it; and the public
"call me back" request with its embeddable form, which needs no login.

Thin edges: every rule (scope, who may be given a callback, one open per number, rate limits) is in
`services.callback_desk`; a refused change comes back as a flash, a refused public request as JSON with a status.
"""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from typing import Any

from flask import (
    Blueprint,
    Flask,
    Response,
    current_app,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _
from flask_login import current_user, login_required
from sqlalchemy import select

from callcenter.extensions import csrf, db
from callcenter.i18n import translate
from callcenter.models import Queue, User
from callcenter.redis_conn import get_redis
from callcenter.services import callback_desk, scope
from callcenter.services.callback_desk import CallbackFilters
from callcenter.services.errors import DomainError, TooManyAttempts, ValidationFailed
from callcenter.services.messages import t
from callcenter.web.filters import viewer_zone
from callcenter.web.security_headers import content_security_policy

bp = Blueprint("callbacks", __name__, template_folder="templates")

PER_PAGE = 50
MAX_EXPORT_ROWS = 10_000
CSV_COLUMNS = ("id", "phone", "status", "source", "queue", "owner", "contact", "requested_at", "due_at", "attempts",
               "last_agent", "notes")


def _actor() -> User:
    return current_user._get_current_object()


def _int(value: str | None) -> int | None:
    return int(value) if value and value.isdigit() and 0 < int(value) < 2**31 else None


def _filters(args) -> CallbackFilters:
    """The list's filters from the query string; unknown choices are ignored (the selects offer valid ones)."""
    status = args.get("status") if args.get("status") in callback_desk.STATUSES else None
    source = args.get("source") if args.get("source") in callback_desk.SOURCES else None
    return CallbackFilters(status=status, source=source, queue_id=_int(args.get("queue_id")),
                           owner_id=_int(args.get("owner_id")), phone=(args.get("q") or "")[:40] or None,
                           open_only=args.get("open") == "1")


def _people() -> list[User]:
    """Whom the viewer may give a callback to (themselves; their team; everyone for an admin)."""
    return list(db.session.scalars(select(User).where(scope.users(_actor()), User.active).order_by(User.full_name)))


@bp.get("/callbacks")
@login_required
def index():
    """The callbacks the user may see, filtered, soonest due first."""
    filters = _filters(request.args)
    page = max(_int(request.args.get("page")) or 1, 1)
    items, total = callback_desk.search(db.session, _actor(), filters, limit=PER_PAGE, offset=(page - 1) * PER_PAGE)
    args = {k: v for k, v in request.args.items() if k != "page" and v}
    return render_template("callbacks/list.html", callbacks=items, total=total, page=page, per_page=PER_PAGE,
                           filters=filters, args=args, statuses=callback_desk.STATUSES,
                           sources=callback_desk.SOURCES, people=_people(),
                           queues=db.session.scalars(select(Queue).order_by(Queue.name)).all())


def _csv_value(value: Any) -> str:
    text = value.isoformat() if isinstance(value, datetime) else "" if value is None else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text  # never a spreadsheet formula


@bp.get("/callbacks.csv")
@login_required
def export():
    """The filtered list as CSV (every page, up to MAX_EXPORT_ROWS)."""
    items, _total = callback_desk.search(db.session, _actor(), _filters(request.args), limit=MAX_EXPORT_ROWS)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    for callback in items:
        writer.writerow([_csv_value(v) for v in (
            callback.id, callback.phone_e164, callback.status, callback.source,
            callback.queue.name if callback.queue else None, callback.owner.full_name if callback.owner else None,
            callback.contact.display_name if callback.contact else None, callback.requested_at, callback.due_at,
            callback.attempts, callback.agent.full_name if callback.agent else None, callback.notes)])
    return Response(out.getvalue(), mimetype="text/csv",
                    headers={"Content-Disposition": "attachment; filename=callbacks.csv"})


@bp.get("/callbacks/<int:callback_id>")
@login_required
def show(callback_id: int):
    """One callback, its dial attempts, and the forms that change it."""
    try:
        callback = callback_desk.get(db.session, _actor(), callback_id)
    except DomainError as exc:
        flash(translate(exc.message), "error")
        return redirect(url_for("callbacks.index"))
    zone = viewer_zone()
    due_local = callback.due_at.replace(tzinfo=callback.due_at.tzinfo or UTC).astimezone(zone)
    return render_template("callbacks/show.html", callback=callback, zone=zone.key,
                           due_local=due_local.strftime("%Y-%m-%dT%H:%M"), people=_people(),
                           attempts=callback_desk.attempts(db.session, callback.id))


def _local_time(text: str) -> datetime | None:
    try:
        return datetime.fromisoformat(text).replace(tzinfo=viewer_zone())
    except ValueError:
        return None


def _change(callback_id: int, action: str) -> Response:
    """Reschedule (a local time in the viewer's zone), reassign (an owner or nobody) or cancel; back to the page."""
    actor, r = _actor(), get_redis()
    try:
        if action == "reschedule":
            due = _local_time(request.form.get("due_at", ""))
            if due is None:
                flash(_("Give the new time as a date and time."), "error")
                return redirect(url_for("callbacks.show", callback_id=callback_id))
            callback_desk.reschedule(db.session, r, actor, callback_id, due)
            flash(_("Callback rescheduled."), "success")
        elif action == "reassign":
            callback_desk.reassign(db.session, r, actor, callback_id, owner_id=_int(request.form.get("owner_id")))
            flash(_("Callback reassigned."), "success")
        else:
            callback_desk.cancel(db.session, r, actor, callback_id)
            flash(_("Callback cancelled."), "success")
    except DomainError as exc:
        db.session.rollback()
        flash(translate(exc.message), "error")
    return redirect(url_for("callbacks.show", callback_id=callback_id))


@bp.post("/callbacks/<int:callback_id>/reschedule")
@login_required
def reschedule(callback_id: int) -> Response:
    """Move the callback to the time given in the viewer's zone."""
    return _change(callback_id, "reschedule")


@bp.post("/callbacks/<int:callback_id>/reassign")
@login_required
def reassign(callback_id: int) -> Response:
    """Give the callback to someone (or to nobody: the queue's)."""
    return _change(callback_id, "reassign")


@bp.post("/callbacks/<int:callback_id>/cancel")
@login_required
def cancel(callback_id: int) -> Response:
    """Nobody will call this number back."""
    return _change(callback_id, "cancel")


# --- The public request ---------------------------------------------------------------------------------------------

PUBLIC_HEADERS = {"Access-Control-Allow-Origin": "*", "Access-Control-Allow-Methods": "POST, OPTIONS",
                  "Access-Control-Allow-Headers": "Content-Type", "Cache-Control": "no-store"}


def _public(body: dict[str, Any], status: int, **headers: str) -> Response:
    """A JSON answer any site's page may read: no cookie is used nor set, so nothing of a user's leaks."""
    response = jsonify(body)
    response.status_code = status
    response.headers.update({**PUBLIC_HEADERS, **headers})
    return response


@bp.route("/callback-request", methods=["OPTIONS"])
def request_preflight() -> Response:
    """Browsers ask first before posting JSON from another site."""
    return _public({}, 204)


@bp.post("/callback-request")
@csrf.exempt
def request_callback() -> Response:
    """Book a callback from the public form or another site (JSON or form fields: phone, queue, name, notes).

    The embedded form posts `format=html` and gets the form page back with the outcome; others get JSON."""
    data = (request.get_json(silent=True) if request.is_json else request.form) or {}
    if not hasattr(data, "get"):
        data = {}
    as_page = not request.is_json and data.get("format") == "html"
    queue_id = _int(str(data.get("queue") or ""))
    try:
        if queue_id is None:
            raise ValidationFailed(t('Choose the line to be called back on.'), field="queue")
        callback = callback_desk.request_callback(
            db.session, get_redis(), client=request.remote_addr or "unknown", phone=str(data.get("phone") or ""),
            queue_id=queue_id, name=str(data.get("name") or "")[:100], notes=str(data.get("notes") or "")[:500],
            region=current_app.config["DEFAULT_REGION"])
    except DomainError as exc:
        db.session.rollback()
        headers = {"Retry-After": str(exc.retry_after)} if isinstance(exc, TooManyAttempts) else {}
        if as_page:
            return _form_page(queue_id, error=translate(exc.message), status=exc.status, **headers)
        return _public({"message": translate(exc.message), "field": exc.field}, exc.status, **headers)
    thanks = _("Thank you: we will call you back shortly.")
    if as_page:
        return _form_page(queue_id, done=thanks, status=201)
    return _public({"message": thanks, "id": callback.id}, 201)


def _form_page(queue_id: int | None, *, status: int = 200, error: str | None = None, done: str | None = None,
               **headers: str) -> Response:
    """The form page, framable by any site (it shows nothing of anyone's and uses no cookie)."""
    queue = db.session.get(Queue, queue_id or 0)
    response = Response(render_template("callbacks/request_form.html", queue=queue if queue and queue.active
                                        else None, error=error, done=done), status=status)
    policy = content_security_policy(current_app.config["PUBLIC_BASE_URL"], twilio=False)
    response.headers["Content-Security-Policy"] = policy.replace("frame-ancestors 'none'", "frame-ancestors *")
    response.headers["X-Frame-Options"] = "ALLOWALL"  # not DENY: superseded by frame-ancestors where understood
    response.headers.update(headers)
    return response


@bp.get("/callback-request/form")
def request_form() -> Response:
    """The embeddable form; it posts to /callback-request on this server."""
    return _form_page(_int(request.args.get("queue")))


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
