"""/api/v1/reports: queue, agent and campaign figures per 15 minutes, hour, day or week, as JSON or CSV.

The figures are the wallboard's formulas (services.metrics, docs/metrics.md) over the viewer's scope; days and
periods are on the viewer's wall clock (their profile's time zone, else UTC). Parameters are read here rather than
by a schema so that an unreadable one is a 400 naming it.
"""

from __future__ import annotations

import marshmallow as ma
from flask import Response, current_app, request
from flask.views import MethodView
from marshmallow import fields

from callcenter.api.auth import current_actor
from callcenter.api.base import resource_blueprint
from callcenter.api.errors import ErrorSchema
from callcenter.extensions import db
from callcenter.i18n import translate
from callcenter.services import metrics, reports
from callcenter.services.messages import t
from callcenter.services.metrics import Thresholds

blp = resource_blueprint("reports", __name__, "/reports",
                         "Historical figures by queue, team, agent and campaign (formulas: docs/metrics.md)")

PARAMETERS = [
    {"name": "from", "in": "query", "required": False, "schema": {"type": "string", "format": "date"},
     "description": "First day (YYYY-MM-DD, in your time zone) or an ISO date-time; default: today"},
    {"name": "to", "in": "query", "required": False, "schema": {"type": "string", "format": "date"},
     "description": "Last day, included (YYYY-MM-DD), or an ISO date-time (excluded); default: the day of from"},
    {"name": "interval", "in": "query", "required": False,
     "schema": {"type": "string", "enum": list(metrics.INTERVALS), "default": "hour"}},
    {"name": "format", "in": "query", "required": False,
     "schema": {"type": "string", "enum": ["json", "csv"], "default": "json"}},
]
CSV_CONTENT = {"text/csv": {"schema": {"type": "string"}}}


class RowSchema(ma.Schema):
    """One period of one group (group_id null: the period's total over every group)."""

    period_start = fields.String()
    period_end = fields.String()
    group_id = fields.Integer(allow_none=True)
    group_name = fields.String(allow_none=True)
    offered = fields.Integer()
    answered = fields.Integer()
    abandoned = fields.Integer()
    short_abandoned = fields.Integer()
    service_level = fields.Float(allow_none=True)
    abandon_rate = fields.Float(allow_none=True)
    asa_seconds = fields.Float(allow_none=True)
    aht_seconds = fields.Float(allow_none=True)
    fcr_rate = fields.Float(allow_none=True)
    transfers = fields.Integer()
    callbacks_due = fields.Integer()
    callbacks_kept = fields.Integer()
    occupancy = fields.Float(allow_none=True)
    utilisation = fields.Float(allow_none=True)
    logged_in_seconds = fields.Float()
    handling_seconds = fields.Float()
    dials = fields.Integer()
    live_answers = fields.Integer()
    machines = fields.Integer()


class ReportSchema(ma.Schema):
    kind = fields.String()
    start = fields.String(data_key="from")
    end = fields.String(data_key="to")
    interval = fields.String()
    time_zone = fields.String()
    metrics_version = fields.String()
    rows = fields.List(fields.Nested(RowSchema))


def thresholds() -> Thresholds:
    return Thresholds.from_config(current_app.config)


def _report(kind: str):
    viewer = current_actor()
    output = request.args.get("format") or "json"
    if output not in ("json", "csv"):
        raise reports.BadReportRequest(t("format is json or csv"), field="format")
    query = reports.parse_query(request.args.get("from"), request.args.get("to"), request.args.get("interval"),
                                reports.zone_of(viewer.time_zone))
    rows = reports.with_total_label(reports.run(db.session, viewer, kind, query, thresholds()), translate(t("All")))
    if output == "csv":
        return Response(reports.to_csv(kind, rows), mimetype="text/csv",
                        headers={"Content-Disposition": f"attachment; filename={kind}-report.csv"})
    return {"kind": kind, "start": query.start.isoformat(), "end": query.end.isoformat(),
            "interval": query.interval, "time_zone": query.zone.key, "metrics_version": metrics.METRICS_VERSION,
            "rows": rows}


def _documented(view):
    view = blp.alt_response(422, schema=ErrorSchema, description="A period we refuse: empty, out of range, or "
                                                                  "with too many intervals")(view)
    view = blp.alt_response(400, schema=ErrorSchema, description="An unreadable parameter (see `field`)")(view)
    view = blp.response(200, ReportSchema, description="JSON, or CSV with format=csv")(view)
    content = {"application/json": {"schema": ReportSchema}, **CSV_CONTENT}  # the manual doc replaces, not merges
    return blp.doc(parameters=PARAMETERS,
                   responses={"200": {"description": "JSON, or CSV with format=csv", "content": content}})(view)


@blp.route("/queues")
class QueueReport(MethodView):
    @_documented
    def get(self):
        """Per period and queue: offered, answered, abandoned (short ones apart), service level, ASA, AHT, FCR,
        transfers, callbacks kept."""
        return _report("queues")


@blp.route("/agents")
class AgentReport(MethodView):
    @_documented
    def get(self):
        """Per period and agent you may see: the call figures of the calls they answered, occupancy and
        utilisation."""
        return _report("agents")


@blp.route("/teams")
class TeamReport(MethodView):
    @_documented
    def get(self):
        """Per period and team you may see: the agent figures over each team."""
        return _report("teams")


@blp.route("/campaigns")
class CampaignReport(MethodView):
    @_documented
    def get(self):
        """Per period and campaign: dials, live answers, machines, abandoned and the abandon rate."""
        return _report("campaigns")
