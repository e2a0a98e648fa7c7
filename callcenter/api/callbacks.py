"""/api/v1/callbacks: promises to call someone back — list with filters, book, read with every dial attempt, and
change (reschedule, reassign, cancel). Role scope as elsewhere (services.scope.callbacks)."""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask import current_app
from flask.views import MethodView
from marshmallow import fields, validate

from callcenter.api.auth import current_actor
from callcenter.api.base import resource_blueprint
from callcenter.api.errors import ErrorSchema
from callcenter.api.schemas import ID, Id, PageSchema, SearchArgs, StrictSchema, limit_offset, page_of
from callcenter.extensions import db
from callcenter.redis_conn import get_redis
from callcenter.services import callback_desk
from callcenter.services.callback_desk import CallbackFilters

blp = resource_blueprint("callbacks", __name__, "/callbacks",
                         "Callbacks: booked, offered to their owner first then their queue, dialled at most once")

NOT_FOUND = {"schema": ErrorSchema, "description": "No such callback, or not yours to see"}
INVALID = {"schema": ErrorSchema, "description": "Invalid field (see `field`)"}
CONFLICT = {"schema": ErrorSchema, "description": "Closed, being dialled, or the number already has one open"}


class CallbackArgs(SearchArgs):
    status = fields.String(load_default=None, validate=validate.OneOf(callback_desk.STATUSES))
    open = fields.Boolean(load_default=False, metadata={"description": "Only scheduled, offered or dialling"})
    queue_id = fields.Integer(load_default=None, validate=Id)
    owner_id = fields.Integer(load_default=None, validate=Id)
    source = fields.String(load_default=None, validate=validate.OneOf(callback_desk.SOURCES))
    due_from = fields.AwareDateTime(load_default=None)
    due_to = fields.AwareDateTime(load_default=None)


def filters_of(args: dict[str, Any]) -> CallbackFilters:
    """The service's filters from the list's query arguments (shared with the page and its CSV export);
    `q` is a number, or part of one."""
    return CallbackFilters(status=args.get("status"), open_only=bool(args.get("open")),
                           queue_id=args.get("queue_id"), owner_id=args.get("owner_id"), source=args.get("source"),
                           phone=args.get("q") or None, due_from=args.get("due_from"), due_to=args.get("due_to"))


class CallbackCreate(StrictSchema):
    phone = fields.String(required=True, validate=validate.Length(min=3, max=40))
    due_at = fields.AwareDateTime(required=True)
    queue_id = fields.Integer(load_default=None, allow_none=True, validate=Id)
    owner_id = fields.Integer(load_default=None, allow_none=True, validate=Id,
                              metadata={"description": "Offered to them first; without a queue, default: you"})
    contact_id = fields.Integer(load_default=None, allow_none=True, validate=Id)
    notes = fields.String(load_default="", validate=validate.Length(max=callback_desk.MAX_NOTES))


class CallbackUpdate(StrictSchema):
    due_at = fields.AwareDateTime(metadata={"description": "Reschedule"})
    owner_id = fields.Integer(allow_none=True, validate=Id,
                              metadata={"description": "Reassign (null: nobody, the queue's)"})
    queue_id = fields.Integer(allow_none=True, validate=Id, metadata={"description": "Move to another queue"})
    status = fields.String(validate=validate.OneOf(("cancelled",)), metadata={"description": "Cancel"})


class AttemptOut(ma.Schema):
    attempt = fields.Integer()
    agent_id = fields.Integer(allow_none=True)
    started_at = fields.DateTime()
    ended_at = fields.DateTime(allow_none=True)
    call_sid = fields.String(allow_none=True)
    result = fields.String(metadata={"description": "pending, dialing, answered, no_answer, failed, interrupted"})


class CallbackOut(ma.Schema):
    id = fields.Integer()
    phone = fields.String(attribute="phone_e164")
    status = fields.String()
    source = fields.String()
    queue_id = fields.Integer(allow_none=True)
    owner_id = fields.Integer(allow_none=True)
    agent_id = fields.Integer(allow_none=True, metadata={"description": "Who dialled it last"})
    contact_id = fields.Integer(allow_none=True)
    call_id = fields.Integer(allow_none=True)
    created_by_id = fields.Integer(allow_none=True)
    requested_at = fields.DateTime()
    due_at = fields.DateTime()
    attempts = fields.Integer()
    notes = fields.String()
    created_at = fields.DateTime()
    updated_at = fields.DateTime()


class CallbackDetail(CallbackOut):
    dial_attempts = fields.Method("_attempts")

    def _attempts(self, callback) -> list[dict[str, Any]]:
        return AttemptOut(many=True).dump(callback_desk.attempts(db.session, callback.id))


class CallbackPage(PageSchema):
    items = fields.List(fields.Nested(CallbackOut), required=True)


@blp.route("")
class Callbacks(MethodView):
    @blp.arguments(CallbackArgs, location="query")
    @blp.response(200, CallbackPage)
    @blp.alt_response(422, **INVALID)
    def get(self, args: dict[str, Any]):
        """Callbacks you may see, filtered; `q` is (part of) a number. Soonest due first."""
        items, total = callback_desk.search(db.session, current_actor(), filters_of(args), **limit_offset(args))
        return page_of(items, total, args)

    @blp.arguments(CallbackCreate)
    @blp.response(201, CallbackDetail)
    @blp.alt_response(404, schema=ErrorSchema, description="The queue or contact is not found")
    @blp.alt_response(409, **CONFLICT)
    @blp.alt_response(422, **INVALID)
    def post(self, data: dict[str, Any]):
        """Book a callback into a queue and/or for an owner (one open callback per number)."""
        return callback_desk.create(db.session, current_actor(), region=current_app.config["DEFAULT_REGION"],
                                    **data)


@blp.route(f"/<{ID}:callback_id>")
class CallbackById(MethodView):
    @blp.response(200, CallbackDetail)
    @blp.alt_response(404, **NOT_FOUND)
    def get(self, callback_id: int):
        """One callback and every dial attempt (time, result, agent, carrier leg)."""
        return callback_desk.get(db.session, current_actor(), callback_id)

    @blp.arguments(CallbackUpdate, required=False)
    @blp.response(200, CallbackDetail)
    @blp.alt_response(404, **NOT_FOUND)
    @blp.alt_response(409, **CONFLICT)
    @blp.alt_response(422, **INVALID)
    def patch(self, data: dict[str, Any], callback_id: int):
        """Reschedule (`due_at`), reassign (`owner_id`, `queue_id`) or cancel (`status: cancelled`)."""
        actor, r = current_actor(), get_redis()
        callback = callback_desk.get(db.session, actor, callback_id)
        if data.get("status") == "cancelled":
            return callback_desk.cancel(db.session, r, actor, callback_id)
        if "owner_id" in data or "queue_id" in data:
            callback = callback_desk.reassign(db.session, r, actor, callback_id,
                                              owner_id=data.get("owner_id", callback.owner_id),
                                              queue_id=data.get("queue_id"), keep_queue="queue_id" not in data)
        if data.get("due_at") is not None:
            callback = callback_desk.reschedule(db.session, r, actor, callback_id, data["due_at"])
        return callback
