"""/api/v1/calls/{call_sid}/trace: why a call went to its queue and agent, or why the dialer placed it then."""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask.views import MethodView
from marshmallow import fields

from callcenter.api.auth import current_actor
from callcenter.api.base import resource_blueprint
from callcenter.api.errors import ErrorSchema
from callcenter.extensions import db
from callcenter.i18n import translate
from callcenter.services import routing_trace

blp = resource_blueprint("call_traces", __name__, "/calls", "Routing and dialing traces of calls")


class LevelOut(ma.Schema):
    skill = fields.String()
    level = fields.Integer()


class CandidateOut(ma.Schema):
    agent_id = fields.Integer()
    name = fields.String()
    levels = fields.List(fields.Nested(LevelOut), metadata={"description": "Levels in the required skills"})
    idle_seconds = fields.Float(allow_none=True, metadata={"description": "Idle this long at the decision"})
    eligible = fields.Boolean(metadata={"description": "Meets every required level"})
    declined = fields.Boolean(metadata={"description": "Declined this call before"})
    chosen = fields.Boolean()


class TraceStepOut(ma.Schema):
    kind = fields.String(metadata={"description": "queued, offered or dialled"})
    decided_at = fields.DateTime()
    queue_id = fields.Integer(allow_none=True)
    agent_id = fields.Integer(allow_none=True)
    why = fields.List(fields.String(), metadata={"description": "The decision in words, in your language"})
    candidates = fields.List(fields.Nested(CandidateOut))
    details = fields.Dict(metadata={"description": "What the decision looked at, as captured"})


class TraceOut(ma.Schema):
    call_sid = fields.String()
    steps = fields.List(fields.Nested(TraceStepOut))


@blp.route("/<string(minlength=2, maxlength=80):call_sid>/trace")
class CallTrace(MethodView):
    @blp.response(200, TraceOut)
    @blp.alt_response(403, schema=ErrorSchema, description="Agents: another agent's call")
    @blp.alt_response(404, schema=ErrorSchema, description="No such call in your scope")
    def get(self, call_sid: str):
        """Supervisors and admins: every routing or dialing decision taken for the call, with its reasons."""
        steps = routing_trace.call_trace(db.session, current_actor(), call_sid)
        return {"call_sid": call_sid, "steps": [_step(s) for s in steps]}


def _step(step: routing_trace.TraceStep) -> dict[str, Any]:
    return {"kind": step.kind, "decided_at": step.decided_at, "queue_id": step.queue_id, "agent_id": step.agent_id,
            "why": [translate(line) for line in step.lines], "details": step.details,
            "candidates": [{"agent_id": c.agent_id, "name": c.name, "idle_seconds": c.idle_seconds,
                            "levels": [{"skill": s, "level": v} for s, v in c.levels], "eligible": c.eligible,
                            "declined": c.declined, "chosen": c.chosen} for c in step.candidates]}
