"""/api/v1/agent: what the signed-in agent's console needs: a softphone token and its working lists."""

from __future__ import annotations

import marshmallow as ma
from flask import current_app
from flask.views import MethodView
from marshmallow import fields
from sqlalchemy import ColumnElement, select, true

from callcenter.api.auth import current_actor
from callcenter.api.base import resource_blueprint
from callcenter.extensions import db
from callcenter.i18n import translate
from callcenter.models import Queue, Role, User
from callcenter.redis_conn import get_redis
from callcenter.services import admin_routing, agent_state, wrapup
from callcenter.services.interactions import agent_identity
from callcenter.telephony import get_provider

blp = resource_blueprint("agent", __name__, "/agent", "The signed-in agent's softphone token and console lists")

TOKEN_TTL_SECONDS = 3600


class SoftphoneToken(ma.Schema):
    token = fields.String(required=True, metadata={"description": "Voice access token (JWT)"})
    identity = fields.String(required=True, metadata={"description": "The softphone identity: agent-{user id}"})
    mode = fields.String(required=True, metadata={"description": "sim (emulator shim) or twilio (Voice JS SDK)"})
    ttl = fields.Integer(required=True, metadata={"description": "Seconds until the token expires"})


class Choice(ma.Schema):
    code = fields.String()
    label = fields.String()


class QueueRef(ma.Schema):
    id = fields.Integer()
    name = fields.String()
    script = fields.String(metadata={"description": "What to say on this queue's calls"})


class Colleague(ma.Schema):
    id = fields.Integer()
    name = fields.String()
    state = fields.String()
    available = fields.Boolean()


class ConsoleConfig(ma.Schema):
    agent_id = fields.Integer()
    name = fields.String()
    role = fields.String()
    dispositions = fields.List(fields.Nested(Choice))
    away_reasons = fields.List(fields.Nested(Choice))
    caller_ids = fields.List(fields.String(), metadata={"description": "Numbers an agent may call from"})
    queues = fields.List(fields.Nested(QueueRef))
    colleagues = fields.List(fields.Nested(Colleague), metadata={"description": "Agents to transfer to"})


def caller_ids() -> list[str]:
    """The company's numbers an agent may show as caller ID on click-to-call."""
    config = current_app.config
    numbers = [config.get("OUTBOUND_CALLER_ID"), config.get("TWILIO_CALLER_ID")]
    if get_provider().name == "sim":
        numbers += list(config.get("SIM_PHONE_NUMBERS") or [])
    return admin_routing.caller_ids(db.session, numbers)


@blp.route("/token")
class Token(MethodView):
    @blp.response(200, SoftphoneToken)
    def get(self):
        """A fresh softphone token for the signed-in user (the console renews it before it expires)."""
        provider = get_provider()
        identity = agent_identity(current_actor().id)
        token = provider.create_access_token(identity, ttl=TOKEN_TTL_SECONDS)
        return {"token": token, "identity": identity, "mode": "sim" if provider.name == "sim" else "twilio",
                "ttl": TOKEN_TTL_SECONDS}


def _same_team(me: User) -> ColumnElement[bool]:
    """The colleagues an agent may consult or transfer to by name: their team (other teams through their queues);
    an admin's are everyone."""
    if me.role == Role.ADMIN.value:
        return true()
    return User.team_id.is_(None) if me.team_id is None else User.team_id == me.team_id


@blp.route("/config")
class Config(MethodView):
    @blp.response(200, ConsoleConfig)
    def get(self):
        """Dispositions, away reasons, caller IDs, queues (with their scripts) and colleagues to transfer to."""
        me = current_actor()
        r = get_redis()
        people = db.session.scalars(
            select(User).where(User.active.is_(True), User.role == Role.AGENT.value, User.id != me.id,
                               _same_team(me))
            .order_by(User.full_name)
        ).all()
        colleagues = []
        for person in people:
            presence = agent_state.get_presence(r, person.id)
            colleagues.append({"id": person.id, "name": person.full_name, "state": presence.state,
                               "available": presence.offerable})
        queues = db.session.scalars(select(Queue).where(Queue.active.is_(True)).order_by(Queue.name)).all()
        return {
            "agent_id": me.id, "name": me.full_name, "role": me.role,
            "dispositions": [{"code": d.code, "label": d.label} for d in wrapup.active_dispositions(db.session)],
            "away_reasons": [{"code": c, "label": translate(label)}
                             for c, label in admin_routing.away_reasons_for_agents(db.session)],
            "caller_ids": caller_ids(),
            "queues": [{"id": q.id, "name": q.name, "script": q.script or q.description} for q in queues],
            "colleagues": colleagues,
        }
