"""/api/v1/calls/{call_sid}/contact: the agent on a call says who it is with, from the pop: create the new
caller's contact, or link the call to one of the contacts that share the number. /api/v1/segments: the customer
segments (RFM) and a campaign list built from one."""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask import current_app
from flask.views import MethodView
from marshmallow import fields, validate

from callcenter.api.auth import current_actor
from callcenter.api.base import resource_blueprint
from callcenter.api.errors import ErrorSchema
from callcenter.api.schemas import ID, ContactOut, Id, StrictSchema
from callcenter.extensions import db
from callcenter.i18n import translate
from callcenter.services import call_contacts, campaign_lists, rfm

blp = resource_blueprint("call_contacts", __name__, "/calls",
                         "Who a call is with: the pop's new contact, or the pick among several")
segments_blp = resource_blueprint("segments", __name__, "/segments",
                                  "Customer segments by recency, frequency and value (RFM)")

SID = "string(minlength=2, maxlength=80)"
NOT_YOURS = {"schema": ErrorSchema, "description": "Not the agent on this call"}


class LinkIn(StrictSchema):
    contact_id = fields.Integer(required=True, validate=Id)


class LinkOut(ma.Schema):
    call_sid = fields.String()
    contact_id = fields.Integer(allow_none=True)
    changed = fields.Boolean(metadata={"description": "False when the call was already linked to this contact"})


class NewContactIn(StrictSchema):
    first_name = fields.String(load_default="", validate=validate.Length(max=100))
    last_name = fields.String(load_default="", validate=validate.Length(max=100))
    full_name = fields.String(load_default="", validate=validate.Length(max=200))
    email = fields.Email(load_default=None, allow_none=True, validate=validate.Length(max=254))
    notes = fields.String(load_default="", validate=validate.Length(max=20_000))


@blp.route(f"/<{SID}:call_sid>/contact")
class CallContact(MethodView):
    @blp.response(200, LinkOut)
    @blp.alt_response(403, **NOT_YOURS)
    @blp.alt_response(404, schema=ErrorSchema, description="No such call")
    def get(self, call_sid: str):
        """The contact your call is linked to (`contact_id` null: nobody yet)."""
        contact_id = call_contacts.linked_contact_id(db.session, current_actor(), call_sid)
        return {"call_sid": call_sid, "contact_id": contact_id, "changed": False}

    @blp.arguments(LinkIn)
    @blp.response(200, LinkOut)
    @blp.alt_response(403, **NOT_YOURS)
    @blp.alt_response(404, schema=ErrorSchema, description="No such call, or a contact you may not link")
    def put(self, data: dict[str, Any], call_sid: str):
        """Link your call to a contact: one of the pop's candidates (they have the caller's number) or one you
        may see. The same link again changes nothing and is not logged twice."""
        linked = call_contacts.link(db.session, current_actor(), call_sid, data["contact_id"],
                                    region=current_app.config["DEFAULT_REGION"])
        return {"call_sid": call_sid, "contact_id": linked.contact_id, "changed": linked.changed}

    @blp.arguments(NewContactIn)
    @blp.response(201, ContactOut)
    @blp.alt_response(200, schema=ContactOut, description="A contact was already created from this call")
    @blp.alt_response(403, **NOT_YOURS)
    @blp.alt_response(404, schema=ErrorSchema, description="No such call")
    @blp.alt_response(422, schema=ErrorSchema, description="Invalid field (see `field`)")
    def post(self, data: dict[str, Any], call_sid: str):
        """Create the caller's contact with the call's number, owned by you, and link the call to it."""
        contact, created = call_contacts.create_from_call(db.session, current_actor(), call_sid, data,
                                                          region=current_app.config["DEFAULT_REGION"])
        return contact, 201 if created else 200


class SegmentOut(ma.Schema):
    code = fields.String()
    label = fields.String()
    contacts = fields.Integer()


class SegmentList(ma.Schema):
    items = fields.List(fields.Nested(SegmentOut))


class SegmentLeadsOut(ma.Schema):
    campaign_id = fields.Integer()
    segment = fields.String()
    added = fields.Integer(metadata={"description": "New leads to dial"})
    blocked = fields.Integer(metadata={"description": "New leads on a do-not-call list (never dialled)"})
    skipped = fields.Integer(metadata={"description": "Contacts without a number, or already on the list"})


@segments_blp.route("")
class Segments(MethodView):
    @segments_blp.response(200, SegmentList)
    def get(self):
        """Every segment with its name in your language and how many contacts it holds (at the last pass)."""
        counts = rfm.segment_counts(db.session)
        return {"items": [{"code": code, "label": translate(rfm.SEGMENT_LABELS[code]), "contacts": counts[code]}
                          for code in rfm.SEGMENTS]}


@segments_blp.route(f"/<string(maxlength=20):segment>/campaigns/<{ID}:campaign_id>")
class SegmentToCampaign(MethodView):
    @segments_blp.response(200, SegmentLeadsOut)
    @segments_blp.alt_response(403, schema=ErrorSchema, description="Admins and supervisors only")
    @segments_blp.alt_response(404, schema=ErrorSchema, description="No such campaign")
    @segments_blp.alt_response(409, schema=ErrorSchema, description="The campaign is finished")
    @segments_blp.alt_response(422, schema=ErrorSchema, description="Unknown segment")
    def post(self, segment: str, campaign_id: int):
        """Add the segment's contacts to the campaign's list, each by their first number; again adds only the
        segment's newcomers."""
        result = campaign_lists.add_segment_to_campaign(db.session, current_actor(), campaign_id, segment)
        return {"campaign_id": campaign_id, "segment": segment, "added": result.added, "blocked": result.blocked,
                "skipped": result.skipped}
