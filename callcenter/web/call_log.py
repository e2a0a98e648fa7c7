"""The call log pages: search calls (within the viewer's scope) and export them, one call's story, an agent's day.

Filters come from the query string, so a search is a link; days are in the viewer's time zone
(callcenter/web/filters.py). Everything is read through services.call_log, which applies the scope.
"""

from __future__ import annotations

import csv
import io
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from flask import Blueprint, Flask, Response, abort, current_app, render_template, request
from flask_login import current_user, login_required
from sqlalchemy import select

from callcenter.extensions import db
from callcenter.i18n import translate
from callcenter.models import Queue, Role, Team
from callcenter.services import call_log, recordings, routing_trace
from callcenter.services.errors import DomainError, NotFound
from callcenter.web.filters import day_start, page_number, viewer_zone, whole_number

bp = Blueprint("call_log", __name__, template_folder="templates")

PER_PAGE = 100
CSV_LIMIT = 10_000
CSV_COLUMNS = ["started_at", "call_sid", "direction", "status", "from_number", "to_number", "queue", "agent",
               "contact_id", "duration_seconds", "disposition", "notes"]


def _filter(zone: ZoneInfo) -> tuple[call_log.CallFilter, list[str]]:
    errors: list[str] = []
    args = request.args
    wanted = call_log.CallFilter(
        since=day_start("since", zone, errors), until=day_start("until", zone, errors, next_day=True),
        queue_id=whole_number("queue", errors, minimum=1), agent_id=whole_number("agent", errors, minimum=1),
        team_id=whole_number("team", errors, minimum=1), number=(args.get("number") or "").strip()[:40] or None,
        contact_id=whole_number("contact", errors, minimum=1),
        direction=(args.get("direction") or "").strip()[:20] or None,
        disposition=(args.get("disposition") or "").strip()[:40] or None,
        min_duration=whole_number("min_duration", errors), max_duration=whole_number("max_duration", errors))
    return wanted, errors


def _search(page: int, per_page: int) -> tuple[ZoneInfo, list[Any], int, list[str]]:
    zone = viewer_zone()
    wanted, errors = _filter(zone)
    if errors:
        return zone, [], 0, errors
    try:
        found, total = call_log.search(db.session, current_user, wanted, region=current_app.config["DEFAULT_REGION"],
                                       page=page, per_page=per_page)
    except DomainError as exc:
        return zone, [], 0, [translate(exc.message)]
    return zone, found, total, errors


def _local(moment, zone: ZoneInfo) -> str:
    return moment.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S") if moment else ""


def _row(call, zone: ZoneInfo) -> dict[str, Any]:
    return {"started_at": _local(call.started_at or call.created_at, zone), "call_sid": call.call_sid,
            "direction": call.direction, "status": call.status, "from_number": call.from_number,
            "to_number": call.to_number, "queue": call.queue.name if call.queue else "",
            "agent": call.agent.full_name if call.agent else "", "contact_id": call.contact_id or "",
            "duration_seconds": "" if call.duration_seconds is None else call.duration_seconds,
            "disposition": call.disposition.code if call.disposition else "", "notes": call.notes or ""}


@bp.get("/calls")
@login_required
def index():
    """Calls in your scope, newest first, with filters; 100 a page."""
    number = page_number()
    zone, found, total, errors = _search(number, PER_PAGE)
    args = {k: v for k, v in request.args.items() if k != "page"}
    choices = {"queues": db.session.scalars(select(Queue).order_by(Queue.name)).all(),
               "teams": db.session.scalars(select(Team).order_by(Team.name)).all()}
    return render_template("call_log.html", rows=[_row(c, zone) for c in found], total=total, page=number,
                           per_page=PER_PAGE, errors=errors, args=args, zone=str(zone), **choices), \
        422 if errors else 200


@bp.get("/calls.csv")
@login_required
def export():
    """What the filters select, as CSV (at most 10,000 calls, newest first)."""
    zone, found, _total, errors = _search(1, CSV_LIMIT)
    if errors:
        return Response("\n".join(errors) + "\n", status=422, mimetype="text/plain")
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=CSV_COLUMNS)
    writer.writeheader()
    writer.writerows(_row(call, zone) for call in found)
    return Response(out.getvalue(), mimetype="text/csv",
                    headers={"Content-Disposition": "attachment; filename=calls.csv"})


@bp.get("/calls/<string(maxlength=64):call_sid>")
@login_required
def story(call_sid: str):
    """One call: its record, events in order, IVR path, wait and talk time, transfers, legs, callbacks, tickets."""
    try:
        found = call_log.call_story(db.session, current_user, call_sid)
    except NotFound:
        abort(404)
    zone = viewer_zone()
    # The routing trace names the other agents considered: supervisors and admins only.
    trace = ([] if current_user.role == Role.AGENT.value
             else routing_trace.trace_steps(db.session, found.call.call_sid))
    return render_template("call_story.html", story=found, zone=str(zone), local=lambda m: _local(m, zone),
                           trace=trace, translate=translate,
                           recordings=recordings.for_call(db.session, current_user, found.call))


@bp.get("/agents/<int:agent_id>/day")
@login_required
def agent_day(agent_id: int):
    """An agent's state changes over one day (?day=YYYY-MM-DD, default today in your zone)."""
    zone = viewer_zone()
    errors: list[str] = []
    start = day_start("day", zone, errors)
    if start is None:
        start = datetime.combine(datetime.now(zone).date(), time(), zone)
    try:
        agent, changes = call_log.agent_day(db.session, current_user, agent_id, start, start + timedelta(days=1))
    except NotFound:
        abort(404)
    rows = [{"at": _local(c.occurred_at, zone), "from": c.from_state, "to": c.to_state, "reason": c.reason or "",
             "call_sid": c.call_sid or ""} for c in changes]
    return render_template("agent_day.html", agent=agent, rows=rows, day=start.date().isoformat(), errors=errors,
                           zone=str(zone)), 422 if errors else 200


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
