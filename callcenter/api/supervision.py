"""/api/v1/agents: supervisors set an agent's state from the wallboard."""

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
from callcenter.redis_conn import get_redis
from callcenter.services import agent_state, call_control

blp = resource_blueprint("agents", __name__, "/agents", "Supervisors act on agents' live state")


class StateIn(StrictSchema):
    state = fields.String(required=True, validate=validate.OneOf(tuple(agent_state.REQUESTABLE)))
    reason = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=60),
                           metadata={"description": "Required for away: break, lunch, training, meeting, ..."})


class PresenceOut(ma.Schema):
    agent_id = fields.Integer()
    state = fields.String()
    reason = fields.String(allow_none=True)
    since = fields.Float(allow_none=True)


@blp.route(f"/<{ID}:agent_id>/state")
class State(MethodView):
    @blp.arguments(StateIn)
    @blp.response(200, PresenceOut)
    @blp.alt_response(403, schema=ErrorSchema, description="Supervisors and admins only")
    @blp.alt_response(404, schema=ErrorSchema, description="No such agent in your team")
    @blp.alt_response(409, schema=ErrorSchema, description="The agent is on a call or being offered one")
    def post(self, data: dict[str, Any], agent_id: int):
        """Force an agent available, away (with a reason) or offline."""
        return call_control.force_state(db.session, get_redis(), supervisor=current_actor(), agent_id=agent_id,
                                        state=data["state"], reason=data["reason"])
