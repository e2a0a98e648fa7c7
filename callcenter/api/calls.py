"""/api/v1/calls: the call log (list with the call log's filters, one call's story), the console's and the
wallboard's actions on live calls, wrap-up, and click-to-call.

`call_sid` in an action's path is the call as the console knows it: the offer's id (the caller's CallSid, or
`cb-<CallSid>` for a queued callback). Reads are scoped like the call log (services.call_log): an agent sees their
own calls, a supervisor their team's, an admin all; a call outside the scope is a 404.
"""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask import current_app
from flask.views import MethodView
from marshmallow import fields, validate

from callcenter.api.agent import caller_ids
from callcenter.api.auth import current_actor
from callcenter.api.base import resource_blueprint
from callcenter.api.errors import ErrorSchema
from callcenter.api.schemas import Id, JsonBoolean, PageArgs, PageSchema, StrictSchema, page_of
from callcenter.extensions import db
from callcenter.models.calls import CALL_DIRECTIONS
from callcenter.redis_conn import get_redis
from callcenter.services import agent_legs, call_control, call_log, tickets, wrapup
from callcenter.services.dialing_gate import DialRules
from callcenter.telephony import get_provider, links

blp = resource_blueprint("calls", __name__, "/calls", "Live call control, wrap-up and click-to-call")

SID = "string(minlength=2, maxlength=80)"


class Toggle(StrictSchema):
    on = JsonBoolean(required=True)


class HoldOut(ma.Schema):
    call_sid = fields.String()
    on_hold = fields.Boolean()


class MuteOut(ma.Schema):
    call_sid = fields.String()
    muted = fields.Boolean()


class CallbackIn(StrictSchema):
    due_at = fields.AwareDateTime(required=True, metadata={"description": "When to call back (with a zone)"})
    phone = fields.String(validate=validate.Length(max=64), metadata={"description": "Default: the caller"})
    notes = fields.String(load_default="", validate=validate.Length(max=10_000))


class TicketIn(StrictSchema):
    subject = fields.String(required=True, validate=validate.Length(min=1, max=200))
    description = fields.String(load_default="", validate=validate.Length(max=10_000))
    priority = fields.String(load_default="normal", validate=validate.OneOf(wrapup.TICKET_PRIORITIES))
    due_at = fields.AwareDateTime(load_default=None, allow_none=True)


class WrapUpIn(StrictSchema):
    disposition = fields.String(required=True, validate=validate.Length(min=1, max=40),
                                metadata={"description": "A disposition code (GET /api/v1/agent/config)"})
    notes = fields.String(load_default="", validate=validate.Length(max=10_000))
    callback = fields.Nested(CallbackIn, load_default=None, allow_none=True)
    ticket = fields.Nested(TicketIn, load_default=None, allow_none=True)


class WrapUpOut(ma.Schema):
    call_sid = fields.String()
    disposition = fields.String()
    callback_id = fields.Integer(allow_none=True)
    callback_due_at = fields.DateTime(allow_none=True)
    ticket_id = fields.Integer(allow_none=True)
    agent_state = fields.String()


class TransferIn(StrictSchema):
    kind = fields.String(required=True, validate=validate.OneOf(("warm", "cold")))
    target_agent_id = fields.Integer(validate=Id, metadata={"description": "Warm: the agent to consult"})
    queue_id = fields.Integer(validate=Id, metadata={"description": "Cold: the queue to send the caller to"})

    @ma.validates_schema
    def _target(self, data: dict[str, Any], **_: Any) -> None:
        if data["kind"] == "warm" and not data.get("target_agent_id"):
            raise ma.ValidationError("A warm transfer needs target_agent_id", "target_agent_id")
        if data["kind"] == "cold" and not data.get("queue_id"):
            raise ma.ValidationError("A cold transfer needs queue_id", "queue_id")


class TransferOut(ma.Schema):
    call_sid = fields.String()
    transfer = fields.String(metadata={"description": "consulting, completed, cancelled or queued"})
    to_agent_id = fields.Integer(allow_none=True)
    queue_id = fields.Integer(allow_none=True)
    conference_name = fields.String(allow_none=True)


class MonitorIn(StrictSchema):
    mode = fields.String(required=True, validate=validate.OneOf(call_control.MONITOR_MODES))


class MonitorOut(ma.Schema):
    call_sid = fields.String()
    mode = fields.String()
    supervisor_call_sid = fields.String()
    conference_name = fields.String()


class TakeOverOut(ma.Schema):
    call_sid = fields.String()
    agent_id = fields.Integer(metadata={"description": "The agent whose leg left the call (now in wrap-up)"})
    supervisor_call_sid = fields.String()
    conference_name = fields.String()


class DialIn(StrictSchema):
    to = fields.String(required=True, validate=validate.Length(min=1, max=64))
    caller_id = fields.String(required=True, validate=validate.Length(min=1, max=20))
    contact_id = fields.Integer(load_default=None, allow_none=True, validate=Id)


class DialOut(ma.Schema):
    call_sid = fields.String()
    agent_call_sid = fields.String()
    conference_name = fields.String()
    to = fields.String()


class CallArgs(PageArgs):
    since = fields.AwareDateTime(data_key="from", load_default=None,
                                 metadata={"description": "Calls that started at or after (with a zone)"})
    until = fields.AwareDateTime(data_key="to", load_default=None,
                                 metadata={"description": "Calls that started before (with a zone)"})
    queue = fields.Integer(load_default=None, validate=Id, metadata={"description": "A queue id"})
    agent = fields.Integer(load_default=None, validate=Id, metadata={"description": "An agent's user id"})
    direction = fields.String(load_default=None, validate=validate.OneOf(CALL_DIRECTIONS))
    disposition = fields.String(load_default=None, validate=validate.Length(min=1, max=40),
                                metadata={"description": "A disposition code"})
    number = fields.String(load_default=None, validate=validate.Length(min=1, max=64),
                           metadata={"description": "The caller's or the callee's number, any format"})
    contact_id = fields.Integer(load_default=None, validate=Id)


class NamedRef(ma.Schema):
    id = fields.Integer()
    name = fields.String()


def _ref(item: Any, name: str) -> dict[str, Any] | None:
    return {"id": item.id, "name": name} if item is not None else None


class CallOut(ma.Schema):
    id = fields.Integer()
    call_sid = fields.String()
    parent_call_sid = fields.Function(lambda c: c.parent.call_sid if c.parent else None, allow_none=True)
    direction = fields.String()
    from_number = fields.String()
    to_number = fields.String()
    status = fields.String()
    queue = fields.Function(lambda c: _ref(c.queue, c.queue.name if c.queue else ""), allow_none=True,
                            metadata={"description": "{id, name} or null"})
    agent = fields.Function(lambda c: _ref(c.agent, c.agent.full_name if c.agent else ""), allow_none=True,
                            metadata={"description": "{id, name} or null"})
    contact = fields.Function(lambda c: _ref(c.contact, c.contact.display_name if c.contact else ""),
                              allow_none=True, metadata={"description": "{id, name} or null"})
    disposition = fields.Function(lambda c: c.disposition.code if c.disposition else None, allow_none=True)
    campaign_id = fields.Integer(allow_none=True)
    language = fields.String(allow_none=True)
    notes = fields.String()
    started_at = fields.DateTime(allow_none=True)
    answered_at = fields.DateTime(allow_none=True)
    enqueued_at = fields.DateTime(allow_none=True)
    agent_answered_at = fields.DateTime(allow_none=True)
    ended_at = fields.DateTime(allow_none=True)
    hold_seconds = fields.Integer()
    duration_seconds = fields.Integer(allow_none=True)
    created_at = fields.DateTime()


class CallPage(PageSchema):
    items = fields.List(fields.Nested(CallOut), required=True)


class CallEventOut(ma.Schema):
    kind = fields.String()
    occurred_at = fields.DateTime()
    data = fields.Dict()


class CallStoryOut(CallOut):
    wait_seconds = fields.Integer(allow_none=True, metadata={"description": "From entering the queue to an answer"})
    talk_seconds = fields.Integer(allow_none=True)
    events = fields.List(fields.Nested(CallEventOut))
    legs = fields.List(fields.Nested(CallOut), metadata={"description": "Agent and transfer legs of this call"})
    callback_ids = fields.Function(lambda s: [c.id for c in s.callbacks], metadata={"description": "Callbacks "
                                   "booked on this call"})
    ticket_ids = fields.Function(lambda s: [t.id for t in s.tickets], metadata={"description": "Tickets opened "
                                 "from this call"})
    transfers = fields.List(fields.Dict())


class _StoryView:
    """A call's story read as one object: the story's own parts, else the call's columns (for CallStoryOut)."""

    def __init__(self, story: call_log.CallStory) -> None:
        self._story = story

    def __getattr__(self, name: str) -> Any:
        if hasattr(self._story, name):
            return getattr(self._story, name)
        return getattr(self._story.call, name)


CONFLICT = {"schema": ErrorSchema, "description": "The call is not live, or not in a state that allows this"}


@blp.route("")
class Calls(MethodView):
    @blp.arguments(CallArgs, location="query")
    @blp.response(200, CallPage)
    @blp.alt_response(422, schema=ErrorSchema, description="Invalid filter (see `field`)")
    def get(self, args: dict[str, Any]):
        """The call log in your scope, newest first: filter by time (`from` inclusive, `to` exclusive), queue,
        agent, direction, disposition, number or contact. Agent and transfer legs are inside their call."""
        wanted = call_log.CallFilter(since=args["since"], until=args["until"], queue_id=args["queue"],
                                     agent_id=args["agent"], direction=args["direction"],
                                     disposition=args["disposition"], number=args["number"],
                                     contact_id=args["contact_id"])
        items, total = call_log.search(db.session, current_actor(), wanted,
                                       region=current_app.config["DEFAULT_REGION"], page=args["page"],
                                       per_page=args["per_page"])
        return page_of(items, total, args)

    @blp.arguments(DialIn)
    @blp.response(201, DialOut)
    @blp.alt_response(409, schema=ErrorSchema,
                      description="You are on a call, or the dialing gate refused the number (`message` says why)")
    @blp.alt_response(422, schema=ErrorSchema, description="Invalid number or caller ID")
    def post(self, data: dict[str, Any]):
        """Click-to-call: ring your softphone and the customer into one conference (you are set away/outbound)."""
        return call_control.click_to_call(
            db.session, get_redis(), get_provider(), agent=current_actor(), to=data["to"],
            caller_id=data["caller_id"], allowed_caller_ids=caller_ids(), contact_id=data["contact_id"],
            join_twiml=links.join_twiml, status_callback=links.webhook_url("/status"),
            region=current_app.config["DEFAULT_REGION"], rules=DialRules.from_config(current_app.config))


@blp.route(f"/<{SID}:call_sid>")
class CallBySid(MethodView):
    @blp.response(200, CallStoryOut)
    @blp.alt_response(404, schema=ErrorSchema, description="No such call, or not in your scope")
    def get(self, call_sid: str):
        """One call by its CallSid, with its events in order, its legs, and the callbacks and tickets it led to."""
        return _StoryView(call_log.call_story(db.session, current_actor(), call_sid))


class LegOut(ma.Schema):
    call_sid = fields.String()
    leg_sid = fields.String()


@blp.route(f"/<{SID}:call_sid>/hangup")
class HangUp(MethodView):
    @blp.response(200, LegOut)
    @blp.alt_response(409, **CONFLICT)
    def post(self, call_sid: str):
        """End the call for everyone (the customer's leg); your softphone leg drops with it."""
        customer = agent_legs.hang_up(get_redis(), get_provider(), agent_id=current_actor().id, entry_id=call_sid)
        return {"call_sid": call_sid, "leg_sid": customer}


@blp.route(f"/<{SID}:call_sid>/rejoin")
class Rejoin(MethodView):
    @blp.response(200, LegOut)
    @blp.alt_response(409, **CONFLICT)
    def post(self, call_sid: str):
        """Your softphone dropped this call (a reloaded page): ring it back into the same conference."""
        leg = agent_legs.rejoin_agent(get_redis(), get_provider(), agent_id=current_actor().id, entry_id=call_sid,
                                      caller_id=links.caller_id(), webhook_url=links.webhook_url)
        return {"call_sid": call_sid, "leg_sid": leg}


@blp.route(f"/<{SID}:call_sid>/hold")
class Hold(MethodView):
    @blp.arguments(Toggle)
    @blp.response(200, HoldOut)
    @blp.alt_response(409, **CONFLICT)
    def post(self, data: dict[str, Any], call_sid: str):
        """Put the customer on hold (`on: true`) or take them off hold."""
        return call_control.hold(db.session, get_redis(), get_provider(), agent_id=current_actor().id,
                                 call_sid=call_sid, on=data["on"], hold_url=current_app.config["HOLD_MUSIC_URL"])


@blp.route(f"/<{SID}:call_sid>/mute")
class Mute(MethodView):
    @blp.arguments(Toggle)
    @blp.response(200, MuteOut)
    @blp.alt_response(409, **CONFLICT)
    def post(self, data: dict[str, Any], call_sid: str):
        """Mute (`on: true`) or unmute your leg of the call."""
        return call_control.mute(get_redis(), get_provider(), agent_id=current_actor().id, call_sid=call_sid,
                                 on=data["on"])


@blp.route(f"/<{SID}:call_sid>/wrap-up")
class WrapUp(MethodView):
    @blp.arguments(WrapUpIn)
    @blp.response(200, WrapUpOut)
    @blp.alt_response(403, schema=ErrorSchema, description="Not your call")
    @blp.alt_response(409, schema=ErrorSchema, description="Already wrapped up")
    @blp.alt_response(422, schema=ErrorSchema, description="Invalid field (see `field`)")
    def post(self, data: dict[str, Any], call_sid: str):
        """Finish the after-call work: disposition (required), notes, optional callback and ticket."""
        callback = data["callback"]
        ticket = data["ticket"]
        result = wrapup.complete(
            db.session, get_redis(), agent_id=current_actor().id, call_sid=call_sid,
            disposition=data["disposition"], notes=data["notes"],
            callback=wrapup.CallbackRequest(**callback) if callback else None,
            ticket=wrapup.TicketRequest(**ticket) if ticket else None,
            region=current_app.config["DEFAULT_REGION"],
            ticket_policy=tickets.TicketPolicy.from_config(current_app.config),
        )
        return {"call_sid": call_sid, "disposition": data["disposition"],
                "callback_id": result.callback.id if result.callback else None,
                "callback_due_at": result.callback.due_at if result.callback else None,
                "ticket_id": result.ticket.id if result.ticket else None, "agent_state": result.agent_state}


@blp.route(f"/<{SID}:call_sid>/transfer")
class Transfer(MethodView):
    @blp.arguments(TransferIn)
    @blp.response(200, TransferOut)
    @blp.alt_response(409, **CONFLICT)
    def post(self, data: dict[str, Any], call_sid: str):
        """Warm: consult an agent (the customer waits on hold). Cold: send the customer to a queue."""
        r, provider, agent_id = get_redis(), get_provider(), current_actor().id
        if data["kind"] == "cold":
            return call_control.cold_transfer(db.session, r, provider, agent_id=agent_id, call_sid=call_sid,
                                              queue_id=data["queue_id"], wait_url=links.webhook_url("/wait"))
        state = call_control.consult(db.session, r, provider, agent_id=agent_id, call_sid=call_sid,
                                     target_agent_id=data["target_agent_id"],
                                     caller_id=current_app.config["OUTBOUND_CALLER_ID"],
                                     hold_url=current_app.config["HOLD_MUSIC_URL"])
        return {"call_sid": call_sid, "transfer": "consulting", "to_agent_id": state["to_agent_id"]}


@blp.route(f"/<{SID}:call_sid>/transfer/complete")
class TransferComplete(MethodView):
    @blp.response(200, TransferOut)
    @blp.alt_response(409, **CONFLICT)
    def post(self, call_sid: str):
        """Hand the customer to the consulted agent; you leave the call and go to wrap-up."""
        return call_control.complete_transfer(db.session, get_redis(), get_provider(), agent_id=current_actor().id,
                                              call_sid=call_sid, join_twiml=links.join_twiml)


@blp.route(f"/<{SID}:call_sid>/transfer/cancel")
class TransferCancel(MethodView):
    @blp.response(200, TransferOut)
    @blp.alt_response(409, **CONFLICT)
    def post(self, call_sid: str):
        """Drop the consulted agent and take the customer off hold."""
        return call_control.cancel_transfer(db.session, get_redis(), get_provider(), agent_id=current_actor().id,
                                            call_sid=call_sid)


@blp.route(f"/<{SID}:call_sid>/take-over")
class TakeOver(MethodView):
    @blp.response(200, TakeOverOut)
    @blp.alt_response(403, schema=ErrorSchema, description="Supervisors only")
    @blp.alt_response(404, schema=ErrorSchema, description="The call's agent is not in your teams")
    @blp.alt_response(409, **CONFLICT)
    def post(self, call_sid: str):
        """Supervisors monitoring a call: take it over (you stay on it, the agent's leg leaves, they wrap up)."""
        return call_control.take_over(db.session, get_redis(), get_provider(), supervisor=current_actor(),
                                      call_sid=call_sid)


@blp.route(f"/<{SID}:call_sid>/monitor")
class Monitor(MethodView):
    @blp.arguments(MonitorIn)
    @blp.response(200, MonitorOut)
    @blp.alt_response(403, schema=ErrorSchema, description="Supervisors only")
    @blp.alt_response(404, schema=ErrorSchema, description="The call's agent is not in your teams")
    @blp.alt_response(409, **CONFLICT)
    def post(self, data: dict[str, Any], call_sid: str):
        """Supervisors: listen to, whisper to the agent of, or barge into a live call (rings your softphone)."""
        return call_control.monitor(db.session, get_redis(), get_provider(), supervisor=current_actor(),
                                    call_sid=call_sid, mode=data["mode"],
                                    caller_id=current_app.config["OUTBOUND_CALLER_ID"])

    @blp.response(204)
    @blp.alt_response(403, schema=ErrorSchema, description="Supervisors only")
    @blp.alt_response(404, schema=ErrorSchema, description="The call's agent is not in your teams")
    @blp.alt_response(409, **CONFLICT)
    def delete(self, call_sid: str):
        """Supervisors: leave a call you are monitoring."""
        call_control.stop_monitoring(db.session, get_redis(), get_provider(), supervisor=current_actor(),
                                     call_sid=call_sid)
