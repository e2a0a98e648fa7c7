"""The reports pages: queue, team, agent and campaign figures per period in the viewer's time zone and scope, a
chart drawn here as inline SVG (no script, nothing fetched), a CSV of every table, and the viewer's scheduled
e-mails. Figures come from services.reports, the formulas the wallboard uses (docs/metrics.md)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from flask import Blueprint, Flask, Response, abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required
from markupsafe import Markup, escape

from callcenter.extensions import db
from callcenter.i18n import translate
from callcenter.services import metrics, report_schedules, reports
from callcenter.services.errors import DomainError
from callcenter.services.metrics import Thresholds

bp = Blueprint("reports", __name__, template_folder="templates")

TITLES = {"queues": _l("Queues"), "teams": _l("Teams"), "agents": _l("Agents"), "campaigns": _l("Campaigns")}
INTERVAL_NAMES = {"15m": _l("15 minutes"), "hour": _l("Hour"), "day": _l("Day"), "week": _l("Week")}
COLUMN_NAMES = {
    "period_start": _l("Period"), "period_end": _l("Period end"), "group_name": _l("Name"), "offered": _l("Offered"),
    "answered": _l("Answered"), "abandoned": _l("Abandoned calls"), "short_abandoned": _l("Short abandons"),
    "service_level": _l("Service level %"), "abandon_rate": _l("Abandon rate %"), "asa_seconds": _l("ASA (s)"),
    "aht_seconds": _l("AHT (s)"), "fcr_rate": _l("First-contact resolution %"), "transfers": _l("Transfers"),
    "callbacks_due": _l("Callbacks due"), "callbacks_kept": _l("Callbacks kept"), "occupancy": _l("Occupancy %"),
    "utilisation": _l("Utilisation %"), "logged_in_seconds": _l("Logged in (s)"),
    "handling_seconds": _l("Handling (s)"), "dials": _l("Dials"), "live_answers": _l("Live answers"),
    "machines": _l("Machines"), "group_id": _l("Id"),
}
# The figure each report charts per period (the period's total over every group).
CHARTED = {"queues": ("offered", "service_level"), "teams": ("answered", "occupancy"),
           "agents": ("answered", "occupancy"), "campaigns": ("dials", "abandon_rate")}


def svg_bars(points: Sequence[tuple[str, float | None]], title: str, width: int = 720, height: int = 180) -> Markup:
    """A bar chart as inline SVG: one bar per (label, value), the first and last labels under the axis, each bar
    titled with its label and value (the browser shows it on hover). Empty values draw no bar."""
    pad_left, pad_bottom, pad_top = 40, 22, 20
    values = [v for _name, v in points if v is not None]
    top = max(values, default=0) or 1
    inner_w, inner_h = width - pad_left - 6, height - pad_bottom - pad_top
    step = inner_w / max(len(points), 1)
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img" width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}"><title>{escape(title)}</title>',
             f'<text x="{pad_left}" y="14" font-size="12">{escape(title)}</text>',
             f'<line x1="{pad_left}" y1="{pad_top + inner_h}" x2="{width - 6}" y2="{pad_top + inner_h}" '
             'stroke="#888"/>',
             f'<text x="{pad_left - 4}" y="{pad_top + 10}" font-size="10" text-anchor="end">{_number(top)}</text>',
             f'<text x="{pad_left - 4}" y="{pad_top + inner_h}" font-size="10" text-anchor="end">0</text>']
    for i, (label, value) in enumerate(points):
        if value is None:
            continue
        bar_h = inner_h * value / top
        x = pad_left + i * step + step * 0.1
        parts.append(f'<rect x="{x:.1f}" y="{pad_top + inner_h - bar_h:.1f}" width="{max(step * 0.8, 1):.1f}" '
                     f'height="{bar_h:.1f}" fill="#2b6cb0" data-label="{escape(label)}" data-value="{value}">'
                     f'<title>{escape(label)}: {_number(value)}</title></rect>')
    if points:
        parts.append(f'<text x="{pad_left}" y="{height - 6}" font-size="10">{escape(points[0][0])}</text>')
        parts.append(f'<text x="{width - 6}" y="{height - 6}" font-size="10" text-anchor="end">'
                     f'{escape(points[-1][0])}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))


def _number(value: float) -> str:
    return f"{value:g}"


def _label(period_start: str, interval: str) -> str:
    """A period's start as the reader reads it: the day, or the day and time."""
    day, _t, clock = period_start.partition("T")
    return day if interval in ("day", "week") else f"{day} {clock[:5]}"


def _thresholds() -> Thresholds:
    return Thresholds.from_config(current_app.config)


def _run(kind: str) -> tuple[reports.ReportQuery | None, list[dict[str, Any]], list[str]]:
    errors: list[str] = []
    try:
        query = reports.parse_query(request.args.get("from"), request.args.get("to"), request.args.get("interval"),
                                    reports.zone_of(current_user.time_zone))
        rows = reports.run(db.session, current_user._get_current_object(), kind, query, _thresholds())
    except DomainError as exc:
        errors.append(translate(exc.message))
        return None, [], errors
    return query, reports.with_total_label(rows, _("All")), errors


@bp.get("/reports")
@login_required
def index():
    return redirect(url_for("reports.page", kind="queues", **request.args))


@bp.get("/reports/<kind>")
@login_required
def page(kind: str):
    """One report: the form, two charts of the periods' totals, the table."""
    if kind not in reports.KINDS:
        abort(404)
    query, rows, errors = _run(kind)
    charts = []
    if query is not None:
        totals = [row for row in rows if row["group_id"] is None]
        for name in CHARTED[kind]:
            charts.append(svg_bars([(_label(r["period_start"], query.interval), r[name]) for r in totals],
                                   str(COLUMN_NAMES[name])))
    columns = [c for c in reports.columns(kind) if c not in ("group_id", "period_end")]
    return render_template("reports/report.html", kind=kind, kinds=TITLES, intervals=INTERVAL_NAMES, query=query,
                           rows=rows, columns=columns, names=COLUMN_NAMES, charts=charts, errors=errors,
                           args=request.args, version=metrics.METRICS_VERSION,
                           zone=reports.zone_of(current_user.time_zone).key), 400 if errors else 200


@bp.get("/reports/<kind>.csv")
@login_required
def export(kind: str):
    """The table of the page with the same parameters, as CSV."""
    if kind not in reports.KINDS:
        abort(404)
    _query, rows, errors = _run(kind)
    if errors:
        return Response("\n".join(errors) + "\n", status=400, mimetype="text/plain")
    return Response(reports.to_csv(kind, rows), mimetype="text/csv",
                    headers={"Content-Disposition": f"attachment; filename={kind}-report.csv"})


@bp.route("/reports/schedules", methods=["GET", "POST"])
@login_required
def schedules():
    """The viewer's scheduled e-mails (an admin's: everybody's); a new one from the form."""
    viewer = current_user._get_current_object()
    status = 200
    if request.method == "POST":
        try:
            report_schedules.create_schedule(db.session, viewer, kind=request.form.get("kind", ""),
                                             every=request.form.get("every", ""),
                                             interval=request.form.get("interval", ""),
                                             email=request.form.get("email", ""))
        except DomainError as exc:
            db.session.rollback()
            flash(translate(exc.message), "error")
            status = 422
        else:
            flash(_("The report will be e-mailed once each period is over."), "success")
            return redirect(url_for("reports.schedules"))
    return render_template("reports/schedules.html", schedules=report_schedules.list_schedules(db.session, viewer),
                           kinds=TITLES, intervals=INTERVAL_NAMES, form=request.form,
                           every={"day": _("Every day"), "week": _("Every week")}), status


@bp.post("/reports/schedules/<int:schedule_id>/delete")
@login_required
def delete_schedule(schedule_id: int):
    try:
        report_schedules.delete_schedule(db.session, current_user._get_current_object(), schedule_id)
    except DomainError:
        abort(404)
    flash(_("Schedule deleted."), "success")
    return redirect(url_for("reports.schedules"))


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
