"""/api/v1/service-agreements: SLA tiers (per priority, first-response and resolution targets in business minutes).

Anyone signed in reads them; admins define them. An account's tier is its `service_agreement_id`.
"""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask.views import MethodView
from marshmallow import fields, validate

from callcenter.api.auth import current_actor
from callcenter.api.base import resource_blueprint
from callcenter.api.errors import ErrorSchema
from callcenter.api.schemas import StrictSchema
from callcenter.extensions import db
from callcenter.services import service_agreements as sla

blp = resource_blueprint("service_agreements", __name__, "/service-agreements",
                         "Service agreements: SLA tiers for accounts' tickets")

Minutes = fields.Integer(required=True, validate=validate.Range(min=1, max=sla.MAX_TARGET_MINUTES),
                         metadata={"description": "Business minutes"})


class TargetPair(StrictSchema):
    first_response = Minutes
    resolution = Minutes


class Targets(StrictSchema):
    urgent = fields.Nested(TargetPair, required=True)
    high = fields.Nested(TargetPair, required=True)
    normal = fields.Nested(TargetPair, required=True)
    low = fields.Nested(TargetPair, required=True)


class AgreementIn(StrictSchema):
    name = fields.String(required=True, validate=validate.Length(min=1, max=100))
    description = fields.String(load_default="", validate=validate.Length(max=255))
    targets = fields.Nested(Targets, required=True)


class AgreementOut(ma.Schema):
    id = fields.Integer()
    name = fields.String()
    description = fields.String()
    targets = fields.Dict(metadata={"description": "priority -> {first_response, resolution} business minutes"})
    created_at = fields.DateTime()


@blp.route("")
class Agreements(MethodView):
    @blp.response(200, AgreementOut(many=True))
    def get(self):
        """Every tier, by name."""
        return sla.list_agreements(db.session)

    @blp.arguments(AgreementIn)
    @blp.response(201, AgreementOut)
    @blp.alt_response(403, schema=ErrorSchema, description="Only admins define tiers")
    @blp.alt_response(409, schema=ErrorSchema, description="A tier of that name exists")
    @blp.alt_response(422, schema=ErrorSchema, description="Invalid field (see `field`)")
    def post(self, data: dict[str, Any]):
        """Define a tier (admins)."""
        return sla.create_agreement(db.session, current_actor(), name=data["name"], targets=data["targets"],
                                    description=data["description"])
