"""/api/v1/preview: an agent works a preview campaign from the console: next lead, then dial it or skip it."""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask import current_app
from flask.views import MethodView
from marshmallow import fields

from callcenter.api.auth import current_actor
from callcenter.api.base import resource_blueprint
from callcenter.api.errors import ErrorSchema
from callcenter.api.schemas import ID
from callcenter.extensions import db
from callcenter.models import CampaignContact, Contact, utcnow
from callcenter.redis_conn import get_redis
from callcenter.services import campaigns, dialer
from callcenter.services.dialing_gate import DialRules
from callcenter.telephony import get_provider, links

blp = resource_blueprint("preview", __name__, "/preview",
                         "Preview dialling: the agent sees the lead first, then dials or skips it")


class PreviewCampaignOut(ma.Schema):
    id = fields.Integer()
    name = fields.String()


class LeadView(ma.Schema):
    id = fields.Integer()
    campaign_id = fields.Integer()
    contact_id = fields.Integer()
    name = fields.String()
    phone = fields.String()
    attempts = fields.Integer()
    script = fields.String()
    custom_fields = fields.Dict()


class NextOut(ma.Schema):
    lead = fields.Nested(LeadView, allow_none=True, metadata={"description": "null when nothing is due"})


class DialedOut(ma.Schema):
    lead_id = fields.Integer()
    call_sid = fields.String()
    to = fields.String()


def _view(lead: CampaignContact) -> dict[str, Any]:
    section = campaigns.pop_section(db.session, lead)
    contact = db.session.get(Contact, lead.contact_id)
    return {"id": lead.id, "campaign_id": lead.campaign_id, "contact_id": lead.contact_id,
            "name": contact.display_name if contact else "", "phone": lead.phone_e164, "attempts": lead.attempts,
            "script": section["script"], "custom_fields": section["custom_fields"]}


def _settings() -> dialer.DialSettings:
    config = current_app.config
    return dialer.DialSettings(caller_id=links.caller_id(), calls_per_second=config["DIAL_CALLS_PER_SECOND"],
                               ring_timeout_seconds=config["DIAL_RING_TIMEOUT_SECONDS"],
                               rules=DialRules.from_config(config), join_twiml=links.join_twiml)


@blp.route("/campaigns")
class PreviewCampaigns(MethodView):
    @blp.response(200, PreviewCampaignOut(many=True))
    def get(self):
        """The running preview campaigns you work."""
        return dialer.preview_campaigns(db.session, current_actor())


@blp.route(f"/campaigns/<{ID}:campaign_id>/next")
class NextLead(MethodView):
    @blp.response(200, NextOut)
    @blp.alt_response(403, schema=ErrorSchema, description="You are not assigned to this campaign")
    @blp.alt_response(404, schema=ErrorSchema, description="No such preview campaign")
    @blp.alt_response(409, schema=ErrorSchema, description="The campaign is not running")
    def post(self, campaign_id: int):
        """The lead to look at now: the one already on your screen, else the next due (your callbacks first)."""
        campaign = dialer.preview_campaign(db.session, current_actor(), campaign_id)
        lead = dialer.reserve_preview(db.session, campaign, current_actor(), utcnow())
        db.session.commit()
        return {"lead": _view(lead) if lead is not None else None}


@blp.route(f"/leads/<{ID}:lead_id>/dial")
class DialLead(MethodView):
    @blp.response(201, DialedOut)
    @blp.alt_response(404, schema=ErrorSchema, description="No such lead")
    @blp.alt_response(409, schema=ErrorSchema,
                      description="Not on your screen, you are on a call, or the dialing gate refused (`message`)")
    def post(self, lead_id: int):
        """Dial the lead on your screen: your softphone rings, then the lead, in one conference."""
        placed = dialer.dial_preview(db.session, get_redis(), get_provider(), agent=current_actor(),
                                     lead_id=lead_id, now=utcnow(), urls=links.webhook_url, settings=_settings())
        lead = db.session.get(CampaignContact, lead_id)
        return {"lead_id": lead_id, "call_sid": placed.call_sid, "to": lead.phone_e164 if lead else ""}


@blp.route(f"/leads/<{ID}:lead_id>/skip")
class SkipLead(MethodView):
    @blp.response(204)
    @blp.alt_response(404, schema=ErrorSchema, description="No such lead")
    @blp.alt_response(409, schema=ErrorSchema, description="The lead is not on your screen any more")
    def post(self, lead_id: int):
        """Pass on the lead: it goes back in line after the campaign's retry delay."""
        dialer.skip_preview(db.session, agent=current_actor(), lead_id=lead_id, now=utcnow())

