"""The audit log viewer: who did what to which record, from where, before → after; filters and CSV export.

Admins read everything, supervisors what their team's people did (services.audit.visible). Dates in the filter
are days in the viewer's time zone (their profile's, else UTC), and times are shown in it too.
"""

from __future__ import annotations

import csv
import io
import json
from typing import Any
from zoneinfo import ZoneInfo

from flask import Blueprint, Flask, Response, abort, render_template, request
from flask_babel import gettext as _
from flask_login import current_user, login_required
from sqlalchemy import select

from callcenter.extensions import db
from callcenter.models import User
from callcenter.services import audit
from callcenter.services.errors import Forbidden
from callcenter.web.filters import day_start, page_number, viewer_zone

bp = Blueprint("audit", __name__, template_folder="templates")

PER_PAGE = 100
CSV_LIMIT = 10_000


def _filter(zone: ZoneInfo) -> tuple[audit.AuditFilter, list[str]]:
    """The filter from the query string, with a reader's message for each part that cannot be read."""
    errors: list[str] = []
    args = request.args
    actor_id = None
    if username := (args.get("actor") or "").strip():
        actor_id = db.session.scalar(select(User.id).where(User.username == username[:80]))
        if actor_id is None:
            errors.append(_("Nobody is called %(name)s.", name=username[:80]))
    wanted = audit.AuditFilter(
        action=(args.get("action") or "").strip()[:60] or None, actor_id=actor_id,
        entity_type=(args.get("entity_type") or "").strip()[:40] or None,
        entity_id=(args.get("entity_id") or "").strip()[:64] or None,
        since=day_start("since", zone, errors), until=day_start("until", zone, errors, next_day=True))
    return wanted, errors


def _rows(found: list[tuple[Any, str | None]], zone: ZoneInfo) -> list[dict[str, Any]]:
    rows = []
    for entry, username in found:
        details = dict(entry.details or {})
        before, after = details.pop("before", None), details.pop("after", None)
        rows.append({"at": entry.occurred_at.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S"),
                     "actor": username or "", "action": entry.action,
                     "entity": f"{entry.entity_type or ''} {entry.entity_id or ''}".strip(),
                     "ip_address": entry.ip_address or "",
                     "before": json.dumps(before, ensure_ascii=False, sort_keys=True) if before is not None else "",
                     "after": json.dumps(after, ensure_ascii=False, sort_keys=True) if after is not None else "",
                     "details": json.dumps(details, ensure_ascii=False, sort_keys=True, default=str) if details
                     else ""})
    return rows


def _search(page: int, per_page: int):
    zone = viewer_zone()
    wanted, errors = _filter(zone)
    if errors:
        return zone, [], 0, errors
    try:
        found, total = audit.search(db.session, current_user, wanted, page=page, per_page=per_page)
    except Forbidden:
        abort(403)
    return zone, found, total, errors


@bp.get("/audit")
@login_required
def page():
    """Supervisors and admins: the audit log, newest first, 100 a page."""
    if current_user.role not in ("supervisor", "admin"):
        abort(403)
    number = page_number()
    zone, found, total, errors = _search(number, PER_PAGE)
    args = {k: v for k, v in request.args.items() if k != "page"}
    return render_template("audit.html", rows=_rows(found, zone), total=total, page=number, per_page=PER_PAGE,
                           errors=errors, args=args, zone=str(zone)), 422 if errors else 200


@bp.get("/audit.csv")
@login_required
def export():
    """The filtered log as CSV (at most 10,000 rows, newest first)."""
    if current_user.role not in ("supervisor", "admin"):
        abort(403)
    zone, found, _total, errors = _search(1, CSV_LIMIT)
    if errors:
        return Response("\n".join(errors) + "\n", status=422, mimetype="text/plain")
    out = io.StringIO()
    columns = ["at", "actor", "action", "entity", "ip_address", "before", "after", "details"]
    writer = csv.DictWriter(out, fieldnames=columns)
    writer.writeheader()
    writer.writerows(_rows(found, zone))
    return Response(out.getvalue(), mimetype="text/csv",
                    headers={"Content-Disposition": "attachment; filename=audit.csv"})


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
