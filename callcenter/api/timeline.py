"""/api/v1/contacts/{id}/timeline: a contact's calls, notes, tickets and callbacks, newest first."""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask.views import MethodView
from marshmallow import fields, validate

from callcenter.api.auth import current_actor
from callcenter.api.base import resource_blueprint
from callcenter.api.errors import ErrorSchema
from callcenter.api.schemas import ID, StrictSchema
from callcenter.extensions import db
from callcenter.services import timeline

blp = resource_blueprint("timeline", __name__, "/contacts", "A contact's history")


class TimelineArgs(StrictSchema):
    limit = fields.Integer(load_default=timeline.DEFAULT_LIMIT, validate=validate.Range(min=1, max=200))


class TimelineItem(ma.Schema):
    kind = fields.String(metadata={"description": "call, note, ticket or callback"})
    at = fields.String(allow_none=True, metadata={"description": "ISO 8601, UTC"})
    id = fields.Integer()
    call_id = fields.Integer()
    call_sid = fields.String()
    direction = fields.String()
    status = fields.String()
    queue = fields.String(allow_none=True)
    agent = fields.String(allow_none=True)
    author = fields.String(allow_none=True)
    duration_seconds = fields.Integer(allow_none=True)
    disposition = fields.String(allow_none=True)
    text = fields.String()
    subject = fields.String()
    priority = fields.String()
    due_at = fields.String(allow_none=True)
    phone = fields.String()
    notes = fields.String()


class TimelineOut(ma.Schema):
    items = fields.List(fields.Nested(TimelineItem))


@blp.route(f"/<{ID}:contact_id>/timeline")
class Timeline(MethodView):
    @blp.arguments(TimelineArgs, location="query")
    @blp.response(200, TimelineOut)
    @blp.alt_response(404, schema=ErrorSchema, description="No such contact, or not yours to see")
    def get(self, args: dict[str, Any], contact_id: int):
        """Calls (matched on the contact or any of their numbers), call notes, tickets and callbacks."""
        return {"items": timeline.contact_timeline(db.session, current_actor(), contact_id, args["limit"])}
