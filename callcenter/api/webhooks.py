"""/api/v1/webhooks: admins subscribe other systems to our events and read each delivery's attempts."""

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
from callcenter.services import webhooks

blp = resource_blueprint("webhooks", __name__, "/webhooks",
                         "Signed outbound webhooks (docs/webhooks.md): subscriptions and their delivery log")

EVENT = fields.String(validate=validate.OneOf(webhooks.EVENTS))


class SubscriptionIn(StrictSchema):
    url = fields.String(required=True, validate=validate.Length(min=1, max=500))
    events = fields.List(EVENT, required=True, validate=validate.Length(min=1))
    description = fields.String(load_default="", validate=validate.Length(max=200))


class SubscriptionPatch(StrictSchema):
    url = fields.String(validate=validate.Length(min=1, max=500))
    events = fields.List(EVENT, validate=validate.Length(min=1))
    description = fields.String(validate=validate.Length(max=200))
    active = fields.Boolean()


class SubscriptionOut(ma.Schema):
    id = fields.Integer()
    url = fields.String()
    events = fields.List(fields.String())
    description = fields.String()
    active = fields.Boolean()
    created_at = fields.DateTime()


class NewSubscriptionOut(SubscriptionOut):
    secret = fields.String(metadata={"description": "Shown once: the receiver checks signatures with it"})


class AttemptOut(ma.Schema):
    at = fields.String()
    status_code = fields.Integer(allow_none=True)
    error = fields.String(allow_none=True)


class DeliveryOut(ma.Schema):
    id = fields.Integer()
    event = fields.String()
    status = fields.String(metadata={"description": "pending, delivered or failed"})
    attempts = fields.List(fields.Nested(AttemptOut))
    created_at = fields.DateTime()
    delivered_at = fields.DateTime(allow_none=True)
    body = fields.String()


ADMINS_ONLY = {"schema": ErrorSchema, "description": "Admins only"}
NOT_FOUND = {"schema": ErrorSchema, "description": "No such subscription"}


@blp.route("")
class Subscriptions(MethodView):
    @blp.response(200, SubscriptionOut(many=True))
    @blp.alt_response(403, **ADMINS_ONLY)
    def get(self):
        """Every subscription (admins only); never the secrets."""
        return webhooks.subscriptions(db.session, current_actor())

    @blp.arguments(SubscriptionIn)
    @blp.response(201, NewSubscriptionOut)
    @blp.alt_response(403, **ADMINS_ONLY)
    @blp.alt_response(422, schema=ErrorSchema, description="Invalid field (see `field`)")
    def post(self, data: dict[str, Any]):
        """Subscribe a URL to events; the answer holds the signing secret, shown this once."""
        return webhooks.create_subscription(db.session, current_actor(), **data)


@blp.route(f"/<{ID}:subscription_id>")
class SubscriptionById(MethodView):
    @blp.arguments(SubscriptionPatch)
    @blp.response(200, SubscriptionOut)
    @blp.alt_response(403, **ADMINS_ONLY)
    @blp.alt_response(404, **NOT_FOUND)
    @blp.alt_response(422, schema=ErrorSchema, description="Invalid field (see `field`)")
    def patch(self, data: dict[str, Any], subscription_id: int):
        """Change the URL, events or description, or pause it (`active: false`)."""
        return webhooks.update_subscription(db.session, current_actor(), subscription_id, data)

    @blp.response(204)
    @blp.alt_response(403, **ADMINS_ONLY)
    @blp.alt_response(404, **NOT_FOUND)
    def delete(self, subscription_id: int):
        """Remove the subscription and its delivery log."""
        webhooks.delete_subscription(db.session, current_actor(), subscription_id)


@blp.route(f"/<{ID}:subscription_id>/deliveries")
class Deliveries(MethodView):
    @blp.response(200, DeliveryOut(many=True))
    @blp.alt_response(403, **ADMINS_ONLY)
    @blp.alt_response(404, **NOT_FOUND)
    def get(self, subscription_id: int):
        """The last 100 deliveries, newest first, each with every attempt's response code."""
        return webhooks.deliveries(db.session, current_actor(), subscription_id)
