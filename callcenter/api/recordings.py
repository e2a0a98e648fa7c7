"""/api/v1/recordings: call recordings you may play (the agent who handled the call, their team's supervisor,
admins), their audio streamed through the product (the carrier's URL never leaves it), timestamped notes, and the
console's control of the live call's recording (start on demand, pause, resume, stop).

A refused attempt to read or play a recording is a 403 and an audit entry; every playback is audited.
"""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask import request
from flask.views import MethodView
from marshmallow import fields, validate

from callcenter.api.auth import current_actor
from callcenter.api.base import resource_blueprint
from callcenter.api.errors import ErrorSchema
from callcenter.api.schemas import ID, PageSchema, StrictSchema
from callcenter.extensions import db
from callcenter.media import private_audio
from callcenter.models.recordings import RECORDING_STATUSES
from callcenter.redis_conn import get_redis
from callcenter.services import recordings
from callcenter.telephony import get_provider, links

blp = resource_blueprint("recordings", __name__, "/recordings",
                         "Call recordings: list, play (proxied, audited), notes, and the live call's recording")

FORBIDDEN = {"schema": ErrorSchema, "description": "Not a recording you may play (the attempt is audited)"}
NOT_FOUND = {"schema": ErrorSchema, "description": "No such recording"}
CONFLICT = {"schema": ErrorSchema, "description": "The call is not live, not recorded, or not in a state for this"}
SID = "string(minlength=2, maxlength=80)"


class RecordingArgs(StrictSchema):
    call_sid = fields.String(load_default=None, validate=validate.Length(max=64))
    page = fields.Integer(load_default=1, validate=validate.Range(min=1, max=1_000_000))
    per_page = fields.Integer(load_default=25, validate=validate.Range(min=1, max=100))


class RecordingNoteOut(ma.Schema):
    id = fields.Integer()
    offset_seconds = fields.Integer()
    body = fields.String()
    author_id = fields.Integer(allow_none=True)
    created_at = fields.DateTime()


class RecordingOut(ma.Schema):
    id = fields.Integer()
    call_sid = fields.String()
    call_id = fields.Integer(allow_none=True)
    agent_id = fields.Integer(allow_none=True)
    trigger = fields.String(metadata={"description": "all (the policy), on_demand (an agent) or voicemail"})
    status = fields.String(metadata={"description": ", ".join(RECORDING_STATUSES)})
    duration_seconds = fields.Integer(allow_none=True)
    audio_url = fields.Function(lambda r: f"/api/v1/recordings/{r.id}/audio",
                                metadata={"description": "Stream the audio through the product"})
    started_at = fields.DateTime()
    completed_at = fields.DateTime(allow_none=True)
    notes = fields.List(fields.Nested(RecordingNoteOut))


class RecordingPage(PageSchema):
    items = fields.List(fields.Nested(RecordingOut), required=True)


class RecordingNoteIn(StrictSchema):
    offset_seconds = fields.Integer(required=True, validate=validate.Range(min=0, max=86_400),
                                    metadata={"description": "Seconds from the start of the recording"})
    body = fields.String(required=True, validate=validate.Length(min=1, max=recordings.MAX_NOTE_LENGTH))


class RecordingControlIn(StrictSchema):
    action = fields.String(required=True, validate=validate.OneOf(recordings.ACTIONS),
                           metadata={"description": "start (policy on_demand only), pause, resume or stop"})


class LiveRecordingOut(ma.Schema):
    call_sid = fields.String()
    policy = fields.String(metadata={"description": "off, all or on_demand"})
    connected = fields.Boolean(metadata={"description": "false while the call is not bridged to you yet"})
    recording_id = fields.Integer(allow_none=True)
    status = fields.String(allow_none=True, metadata={"description": "in-progress, paused, or null"})
    can_start = fields.Boolean()


@blp.route("")
class Recordings(MethodView):
    @blp.arguments(RecordingArgs, location="query")
    @blp.response(200, RecordingPage)
    def get(self, args: dict[str, Any]):
        """Recordings you may play, newest first (optionally of one call)."""
        items, total = recordings.list_visible(db.session, current_actor(), call_sid=args["call_sid"],
                                               page=args["page"], per_page=args["per_page"])
        return {"items": items, "total": total, "page": args["page"], "per_page": args["per_page"]}


@blp.route(f"/<{ID}:recording_id>")
class RecordingById(MethodView):
    @blp.response(200, RecordingOut)
    @blp.alt_response(403, **FORBIDDEN)
    @blp.alt_response(404, **NOT_FOUND)
    def get(self, recording_id: int):
        """One recording and its notes."""
        return recordings.get_allowed(db.session, current_actor(), recording_id, ip_address=request.remote_addr)


@blp.route(f"/<{ID}:recording_id>/audio")
class RecordingAudio(MethodView):
    @blp.doc(responses={"200": {"description": "The audio (WAV), streamed from the carrier through the product",
                                "content": {"audio/wav": {"schema": {"type": "string", "format": "binary"}}}}})
    @blp.alt_response(403, **FORBIDDEN)
    @blp.alt_response(404, **NOT_FOUND)
    @blp.alt_response(409, schema=ErrorSchema, description="Not finished yet, or the carrier could not serve it")
    def get(self, recording_id: int):
        """Play a recording (audited)."""
        return private_audio(recordings.play(db.session, get_provider(), current_actor(), recording_id,
                                              ip_address=request.remote_addr))


@blp.route(f"/<{ID}:recording_id>/notes")
class RecordingNotes(MethodView):
    @blp.arguments(RecordingNoteIn)
    @blp.response(201, RecordingNoteOut)
    @blp.alt_response(403, **FORBIDDEN)
    @blp.alt_response(404, **NOT_FOUND)
    @blp.alt_response(422, schema=ErrorSchema, description="Empty text, or a moment outside the recording")
    def post(self, data: dict[str, Any], recording_id: int):
        """A note at a moment of the recording."""
        return recordings.add_note(db.session, current_actor(), recording_id, offset_seconds=data["offset_seconds"],
                                   body=data["body"], ip_address=request.remote_addr)


@blp.route(f"/live/<{SID}:call_sid>")
class LiveRecording(MethodView):
    @blp.response(200, LiveRecordingOut)
    @blp.alt_response(403, schema=ErrorSchema, description="Not your call")
    def get(self, call_sid: str):
        """Your live call's recording policy and the recording running now (the console's controls)."""
        return recordings.live_state(db.session, get_redis(), agent=current_actor(), call_sid=call_sid).as_dict()

    @blp.arguments(RecordingControlIn)
    @blp.response(200, LiveRecordingOut)
    @blp.alt_response(403, schema=ErrorSchema, description="Not your call")
    @blp.alt_response(409, **CONFLICT)
    def post(self, data: dict[str, Any], call_sid: str):
        """Start (policy on_demand), pause, resume or stop your live call's recording."""
        return recordings.control(db.session, get_redis(), get_provider(), agent=current_actor(), call_sid=call_sid,
                                  action=data["action"],
                                  status_callback=links.webhook_url("/recording/status")).as_dict()

