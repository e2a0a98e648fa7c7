"""The service desk pages: the ticket list (filters, search, CSV export), a ticket with its timeline and the forms
that work it (status, assignment, priority, note), and quick entry prefilled from a call and its contact.

Thin edges: every rule (workflow, scope, who may assign) is in `services.tickets`; a refused change comes back as
a flash naming what was wrong, and the page is shown again.
"""

from __future__ import annotations

import csv
import io
from datetime import datetime
from typing import Any

from flask import Blueprint, Flask, Response, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from callcenter.extensions import db
from callcenter.i18n import translate
from callcenter.models import Contact, utcnow
from callcenter.services import calls as call_service
from callcenter.services import tickets as ticket_service
from callcenter.services.errors import DomainError
from callcenter.services.tickets import TicketFilters, TicketPolicy

bp = Blueprint("tickets", __name__, template_folder="templates")

PER_PAGE = 50
MAX_EXPORT_ROWS = 10_000
CSV_COLUMNS = ("id", "subject", "status", "priority", "team", "assignee", "contact", "account", "created_at",
               "first_response_due_at", "first_responded_at", "due_at", "resolved_at", "escalation_level",
               "breached")


def _policy() -> TicketPolicy:
    return TicketPolicy.from_config(current_app.config)


def _actor():
    return current_user._get_current_object()


def _int(value: str | None) -> int | None:
    """A positive id from a form or query value; anything else is no value."""
    return int(value) if value and value.isdigit() and 0 < int(value) < 2**31 else None


def _filters(args) -> TicketFilters:
    """The list's filters from the query string; unknown choices are ignored (the selects only offer valid ones)."""
    status = args.get("status") if args.get("status") in ticket_service.STATUSES else None
    priority = args.get("priority") if args.get("priority") in ticket_service.PRIORITIES else None
    assignee = args.get("assignee", "")
    breached = {"yes": True, "no": False}.get(args.get("breached", ""))
    return TicketFilters(status=status, priority=priority, team_id=_int(args.get("team_id")),
                         assignee_id=_int(assignee), unassigned=assignee == "none",
                         contact_id=_int(args.get("contact_id")), account_id=_int(args.get("account_id")),
                         breached=breached, q=(args.get("q") or "")[:200])


@bp.get("/tickets")
@login_required
def index():
    """The tickets the user may see, filtered, nearest deadline first."""
    filters = _filters(request.args)
    page = max(_int(request.args.get("page")) or 1, 1)
    now = utcnow()
    items, total = ticket_service.search_tickets(db.session, _actor(), filters, limit=PER_PAGE,
                                                 offset=(page - 1) * PER_PAGE, now=now)
    args = {k: v for k, v in request.args.items() if k != "page" and v}
    return render_template("tickets/list.html", tickets=items, total=total, page=page, per_page=PER_PAGE,
                           filters=filters, args=args, now=now, breached=ticket_service.is_breached,
                           statuses=ticket_service.STATUSES, priorities=ticket_service.PRIORITIES,
                           teams=ticket_service.teams(db.session),
                           assignees=ticket_service.assignable_users(db.session, _actor()))


def _csv_value(value: Any) -> str:
    text = value.isoformat() if isinstance(value, datetime) else "" if value is None else str(value)
    # A cell a spreadsheet would run as a formula is written as text.
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


@bp.get("/tickets.csv")
@login_required
def export():
    """The filtered list as CSV (every page, up to MAX_EXPORT_ROWS)."""
    now = utcnow()
    items, _total = ticket_service.search_tickets(db.session, _actor(), _filters(request.args),
                                                  limit=MAX_EXPORT_ROWS, now=now)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    for ticket in items:
        writer.writerow([_csv_value(v) for v in (
            ticket.id, ticket.subject, ticket.status, ticket.priority, ticket.team.name if ticket.team else None,
            ticket.assignee.full_name if ticket.assignee else None,
            ticket.contact.display_name if ticket.contact else None,
            ticket.account.name if ticket.account else None, ticket.created_at, ticket.first_response_due_at,
            ticket.first_responded_at, ticket.due_at, ticket.resolved_at, ticket.escalation_level,
            "yes" if ticket_service.is_breached(ticket, now) else "no")])
    return Response(out.getvalue(), mimetype="text/csv",
                    headers={"Content-Disposition": "attachment; filename=tickets.csv"})


@bp.route("/tickets/new", methods=["GET", "POST"])
@login_required
def new():
    """Quick entry: prefilled from `call_sid` or `call_id` (the call's contact) and `contact_id`."""
    values = request.form if request.method == "POST" else request.args
    call_id = _int(values.get("call_id"))
    if call_id is None and values.get("call_sid"):
        call = call_service.get_call(db.session, values["call_sid"][:64])
        call_id = call.id if call is not None else None
    contact_id = _int(values.get("contact_id"))
    if request.method == "POST":
        try:
            ticket = ticket_service.create_ticket(
                db.session, _actor(), subject=values.get("subject", ""), description=values.get("description", ""),
                priority=values.get("priority", "normal"), contact_id=contact_id, call_id=call_id,
                policy=_policy())
        except DomainError as exc:
            db.session.rollback()
            flash(translate(exc.message), "error")
        else:
            flash(_("Ticket #%(id)s created.", id=ticket.id), "info")
            return redirect(url_for("tickets.show", ticket_id=ticket.id), 303)
    contact = db.session.get(Contact, contact_id) if contact_id else None
    status = 422 if request.method == "POST" else 200
    return render_template("tickets/new.html", values=values, call_id=call_id, contact_id=contact_id,
                           contact_name=contact.display_name if contact else None,
                           priorities=ticket_service.PRIORITIES), status


@bp.get("/tickets/<int:ticket_id>")
@login_required
def show(ticket_id: int):
    """One ticket: its fields, SLA, timeline and the forms that work it."""
    try:
        ticket = ticket_service.get_ticket(db.session, _actor(), ticket_id)
    except DomainError:
        return render_template("tickets/missing.html", ticket_id=ticket_id), 404
    now = utcnow()
    return render_template("tickets/show.html", ticket=ticket, now=now,
                           breached=ticket_service.is_breached(ticket, now),
                           moves=sorted(ticket_service.TRANSITIONS[ticket.status],
                                        key=ticket_service.STATUSES.index),
                           timeline=ticket_service.timeline(db.session, _actor(), ticket.id),
                           teams=ticket_service.teams(db.session),
                           assignees=ticket_service.assignable_users(db.session, _actor()),
                           priorities=ticket_service.PRIORITIES)


def _change(ticket_id: int, **changes: Any):
    try:
        ticket_service.update_ticket(db.session, _actor(), ticket_id, policy=_policy(), **changes)
    except DomainError as exc:
        db.session.rollback()
        flash(translate(exc.message), "error")
    return redirect(url_for("tickets.show", ticket_id=ticket_id), 303)


@bp.post("/tickets/<int:ticket_id>/status")
@login_required
def set_status(ticket_id: int):
    return _change(ticket_id, status=request.form.get("status", ""))


@bp.post("/tickets/<int:ticket_id>/assign")
@login_required
def set_assignment(ticket_id: int):
    return _change(ticket_id, team_id=_int(request.form.get("team_id")),
                   assignee_id=_int(request.form.get("assignee_id")))


@bp.post("/tickets/<int:ticket_id>/priority")
@login_required
def set_priority(ticket_id: int):
    return _change(ticket_id, priority=request.form.get("priority", ""))


@bp.post("/tickets/<int:ticket_id>/notes")
@login_required
def add_note(ticket_id: int):
    try:
        ticket_service.add_note(db.session, _actor(), ticket_id, request.form.get("body", ""))
    except DomainError as exc:
        db.session.rollback()
        flash(translate(exc.message), "error")
    return redirect(url_for("tickets.show", ticket_id=ticket_id), 303)


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
