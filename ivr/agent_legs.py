"""The agent's softphone legs: answered, rung back after a drop, progress callbacks, conference events.

Each view checks the carrier's signature, calls one step of services.agent_legs (handing it the provider and the
carrier's URLs) and answers TwiML built by callcenter.telephony.twiml. The answer's carrier requests (bringing the
customer in) run once the softphone has its TwiML (callcenter.background).
"""

from __future__ import annotations

from typing import Any

from flask import Response, current_app, request

from callcenter.background import beside_the_request
from callcenter.extensions import db
from callcenter.redis_conn import get_redis
from callcenter.services import agent_legs, call_control
from callcenter.services.errors import Conflict
from callcenter.telephony import get_provider, links, twiml
from ivr import bp
from ivr.guard import fail_safe, twilio_signed, twiml_response
from ivr.params import whole_number


def _fallback() -> Response:
    return twiml_response(twiml.technical_difficulties())


def _no_content() -> Response:
    return Response(status=204)


def _in_conference(name: str) -> Response:
    """The agent's leg joins the conference. Its leaving does not end it: if the leg drops (a reloaded tab), the
    customer stays while the agent rejoins; the agent's hang-up button ends the customer's leg instead."""
    return twiml_response(twiml.join_conference(name, end_on_exit=False,
                                                status_callback=links.webhook_url("/conference/status")))


@bp.post("/agent/answer")
@fail_safe(_fallback, caller_on_line=True)
@twilio_signed
def agent_answer() -> Response:
    """The agent picked up their softphone: bridge them and the customer in the interaction's conference."""
    agent_id = whole_number(request.args.get("agent"))
    if agent_id is None:
        return twiml_response(twiml.call_unavailable())
    entry_id = request.args.get("entry", "")
    try:
        link = agent_legs.answer(db.session, get_redis(), agent_id=agent_id, entry_id=entry_id,
                                 agent_leg_sid=request.form.get("CallSid", ""))
    except Conflict:
        return twiml_response(twiml.call_unavailable())
    beside_the_request(_bring_customer_in, link, agent_id, entry_id, links.caller_id(),
                       what=f"bringing the customer of {entry_id} into its conference")
    return _in_conference(link["conference_name"])


def _bring_customer_in(link: dict[str, Any], agent_id: int, entry_id: str, caller_id: str) -> None:
    agent_legs.bring_customer_in(db.session, get_redis(), get_provider(), link, agent_id=agent_id,
                                 entry_id=entry_id, caller_id=caller_id, webhook_url=links.webhook_url,
                                 join_twiml=links.join_twiml)


@bp.post("/agent/rejoin")
@fail_safe(_fallback, caller_on_line=True)
@twilio_signed
def agent_rejoin() -> Response:
    """The agent's softphone is back for a call it dropped: into the same conference again."""
    agent_id = whole_number(request.args.get("agent"))
    if agent_id is None:
        return twiml_response(twiml.call_unavailable())
    try:
        link = agent_legs.rejoin_answered(get_redis(), agent_id=agent_id, entry_id=request.args.get("entry", ""),
                                          leg_sid=request.form.get("CallSid", ""))
    except Conflict:
        return twiml_response(twiml.call_unavailable())
    return _in_conference(link["conference_name"])


@bp.post("/agent/status")
@fail_safe(_no_content)
@twilio_signed
def agent_status() -> Response:
    """Progress of an agent's softphone leg: an unanswered leg gives the offer back."""
    agent_id = whole_number(request.args.get("agent"))
    if agent_id is not None:
        agent_legs.agent_leg_ended(db.session, get_redis(), agent_id=agent_id,
                                   entry_id=request.args.get("entry", ""),
                                   status=(request.form.get("CallStatus") or "").lower(),
                                   leg_sid=request.form.get("CallSid"),
                                   rejoin_grace_seconds=current_app.config["AGENT_REJOIN_GRACE_SECONDS"])
    return _no_content()


@bp.post("/conference/status")
@fail_safe(_no_content)
@twilio_signed
def conference_status() -> Response:
    """Conference events are not needed for the call record (the legs report themselves). One matters: a
    click-to-call's conference ending while its customer still rings (call_control.outbound_conference_ended)."""
    if request.form.get("StatusCallbackEvent") == "conference-end":
        call_control.outbound_conference_ended(db.session, request.form.get("FriendlyName") or "")
        db.session.commit()
    return _no_content()
