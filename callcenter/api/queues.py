"""/api/v1/queues: the queues and their settings, read-only (they are configured in the IVR admin and the CLI)."""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask.views import MethodView
from marshmallow import fields

from callcenter.api.base import resource_blueprint
from callcenter.api.errors import ErrorSchema
from callcenter.api.schemas import ID, PageArgs, PageSchema, limit_offset, page_of
from callcenter.extensions import db
from callcenter.services import queues

blp = resource_blueprint("queues", __name__, "/queues", "Queues: skills, business hours, holidays, timers (read-only)")


class QueueSkillOut(ma.Schema):
    skill_id = fields.Integer()
    skill = fields.Function(lambda s: s.skill.name)
    min_level = fields.Integer()


class HolidayOut(ma.Schema):
    day = fields.Date()
    name = fields.String()


class QueueOut(ma.Schema):
    id = fields.Integer()
    name = fields.String()
    description = fields.String()
    active = fields.Boolean()
    time_zone = fields.String()
    business_hours = fields.Dict(metadata={"description": 'Day ("mon".."sun") -> [["HH:MM", "HH:MM"], ...] in '
                                                          "the queue's time zone"})
    holidays = fields.List(fields.Nested(HolidayOut))
    skills = fields.List(fields.Nested(QueueSkillOut), metadata={"description": "What an agent needs to take calls"})
    priority_rules = fields.Dict()
    base_priority = fields.Integer()
    wrap_up_seconds = fields.Integer()
    service_level_seconds = fields.Integer()
    service_level_target = fields.Integer(metadata={"description": "Percent answered within service_level_seconds"})
    max_wait_seconds = fields.Integer()
    reservation_timeout_seconds = fields.Integer()
    sticky_agent_wait_seconds = fields.Integer()


class QueuePage(PageSchema):
    items = fields.List(fields.Nested(QueueOut), required=True)


@blp.route("")
class Queues(MethodView):
    @blp.arguments(PageArgs, location="query")
    @blp.response(200, QueuePage)
    def get(self, args: dict[str, Any]):
        """Every queue, by name."""
        items, total = queues.list_queues(db.session, **limit_offset(args))
        return page_of(items, total, args)


@blp.route(f"/<{ID}:queue_id>")
class QueueById(MethodView):
    @blp.response(200, QueueOut)
    @blp.alt_response(404, schema=ErrorSchema, description="No such queue")
    def get(self, queue_id: int):
        """One queue with its settings."""
        return queues.get_queue(db.session, queue_id)
