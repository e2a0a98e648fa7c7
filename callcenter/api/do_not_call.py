"""/api/v1/do-not-call: admins and supervisors keep the do-not-call lists the dialing gate refuses.

`/api/v1/do-not-call/refusals`: what the gate refused lately, with its reason, for supervisors to review.
"""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask import current_app
from flask.views import MethodView
from marshmallow import fields, validate

from callcenter.api.auth import current_actor
from callcenter.api.base import resource_blueprint
from callcenter.api.errors import ErrorSchema
from callcenter.api.schemas import ID, PageSchema, SearchArgs, StrictSchema, limit_offset, page_of
from callcenter.extensions import db
from callcenter.i18n import translate
from callcenter.models import Role
from callcenter.services import dialing_gate
from callcenter.services import do_not_call as dnc
from callcenter.services.errors import Forbidden
from callcenter.services.messages import t

blp = resource_blueprint("do_not_call", __name__, "/do-not-call",
                         "Do-not-call lists (admins and supervisors) and the dialing gate's refusals")

Source = fields.String(validate=validate.OneOf(dnc.SOURCES))


class DncIn(StrictSchema):
    number = fields.String(required=True, validate=validate.Length(min=1, max=64),
                           metadata={"description": "Any common format; stored as E.164"})
    source = fields.String(load_default="internal", validate=validate.OneOf(dnc.SOURCES))
    reason = fields.String(load_default="", validate=validate.Length(max=200))


class DncOut(ma.Schema):
    id = fields.Integer()
    number = fields.String(attribute="phone_e164")
    source = fields.String()
    reason = fields.String()
    added_by_id = fields.Integer(allow_none=True)
    added_at = fields.DateTime()


class DncArgs(SearchArgs):
    source = fields.String(load_default=None, validate=validate.OneOf(dnc.SOURCES))


class DncPage(PageSchema):
    items = fields.List(fields.Nested(DncOut), required=True)


class ImportIn(StrictSchema):
    csv = fields.String(required=True, validate=validate.Length(min=1, max=5_000_000),
                        metadata={"description": "CSV text: a header with a `number` (or `phone`) column, "
                                                 "or the numbers in the first column"})
    source = fields.String(load_default="imported", validate=validate.OneOf(dnc.SOURCES))
    reason = fields.String(load_default="", validate=validate.Length(max=200))
    default_region = fields.String(load_default=None, validate=validate.Length(equal=2),
                                   metadata={"description": "For numbers without +country (default: ours)"})


class ImportRowOut(ma.Schema):
    line = fields.Integer()
    raw = fields.String()
    number = fields.String(allow_none=True, metadata={"description": "E.164, when it parsed"})
    status = fields.String(metadata={"description": "added, already_listed, duplicate or rejected"})
    error = fields.String(allow_none=True)


class ImportOut(ma.Schema):
    committed = fields.Boolean(metadata={"description": "False: a row was rejected and nothing was imported"})
    added = fields.Integer()
    rejected = fields.Integer()
    rows = fields.List(fields.Nested(ImportRowOut))


class RefusalArgs(StrictSchema):
    number = fields.String(load_default=None, validate=validate.Length(max=20))
    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=500))


class RefusalOut(ma.Schema):
    id = fields.Integer()
    number = fields.String(attribute="phone_e164")
    actor_id = fields.Integer(allow_none=True)
    path = fields.String()
    reason = fields.String()
    message = fields.String()
    campaign_id = fields.Integer(allow_none=True)
    at = fields.DateTime()


def _region(data: dict[str, Any]) -> str:
    return (data.get("default_region") or current_app.config["DEFAULT_REGION"]).upper()


@blp.route("")
class DoNotCallList(MethodView):
    @blp.arguments(DncArgs, location="query")
    @blp.response(200, DncPage)
    @blp.alt_response(403, schema=ErrorSchema, description="Admins and supervisors only")
    def get(self, args: dict[str, Any]):
        """Numbers on the do-not-call lists, newest first (`q`: digits to look for, `source`: one list)."""
        items, total = dnc.list_entries(db.session, current_actor(), q=args["q"], source=args["source"],
                                        **limit_offset(args))
        return page_of(items, total, args)

    @blp.arguments(DncIn)
    @blp.response(201, DncOut)
    @blp.alt_response(403, schema=ErrorSchema, description="Admins and supervisors only")
    @blp.alt_response(409, schema=ErrorSchema, description="Already on that list")
    @blp.alt_response(422, schema=ErrorSchema, description="Not a phone number")
    def post(self, data: dict[str, Any]):
        """Put a number on a do-not-call list: no path will dial it any more."""
        return dnc.add(db.session, current_actor(), data["number"], source=data["source"], reason=data["reason"],
                       region=current_app.config["DEFAULT_REGION"])


@blp.route(f"/<{ID}:entry_id>")
class DoNotCallEntry(MethodView):
    @blp.response(204)
    @blp.alt_response(403, schema=ErrorSchema, description="Admins and supervisors only")
    @blp.alt_response(404, schema=ErrorSchema, description="No such entry")
    def delete(self, entry_id: int):
        """Take a number off a do-not-call list."""
        dnc.remove(db.session, current_actor(), entry_id)


@blp.route("/import")
class DoNotCallImport(MethodView):
    @blp.arguments(ImportIn)
    @blp.response(201, ImportOut)
    @blp.alt_response(403, schema=ErrorSchema, description="Admins and supervisors only")
    @blp.alt_response(422, schema=ImportOut, description="A row was rejected: nothing was imported (see `rows`)")
    def post(self, data: dict[str, Any]):
        """Import a CSV of numbers, all or nothing, with a report per row (parsed to E.164, or why not)."""
        report = dnc.import_csv(db.session, current_actor(), data["csv"], source=data["source"],
                                reason=data["reason"], region=_region(data))
        body = {"committed": report.committed, "added": report.added, "rejected": report.rejected,
                "rows": [{"line": r.line, "raw": r.raw, "number": r.number, "status": r.status,
                          "error": translate(r.error) if r.error else None} for r in report.rows]}
        return (body, 201) if report.committed else (body, 422)


@blp.route("/refusals")
class Refusals(MethodView):
    @blp.arguments(RefusalArgs, location="query")
    @blp.response(200, RefusalOut(many=True))
    @blp.alt_response(403, schema=ErrorSchema, description="Admins and supervisors only")
    def get(self, args: dict[str, Any]):
        """The dialing gate's latest refusals, newest first: who tried which number, from where, and why."""
        actor = current_actor()
        if actor.role not in (Role.ADMIN.value, Role.SUPERVISOR.value):
            raise Forbidden(t("Only admins and supervisors may see the dialing gate's refusals"))
        rows = dialing_gate.refusals(db.session, number=args["number"], limit=args["limit"])
        return [{"id": r.id, "phone_e164": r.phone_e164, "actor_id": r.actor_id, "path": r.path, "reason": r.reason,
                 "message": translate(dialing_gate.reason_message(r.reason)) if r.reason else "",
                 "campaign_id": r.campaign_id, "at": r.at} for r in rows]
