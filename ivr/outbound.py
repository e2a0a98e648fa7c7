"""POST /ivr/client: the TwiML App's voice URL, called when an agent's softphone places a call (click-to-call)."""

from __future__ import annotations

from flask import Response, current_app, request

from callcenter.extensions import db
from callcenter.redis_conn import get_redis
from callcenter.services import outbound_calls
from callcenter.services.dialing_gate import DialRules
from callcenter.services.errors import DomainError
from callcenter.telephony import twiml
from callcenter.telephony.links import caller_ids, webhook_url
from ivr import bp
from ivr.guard import fail_safe, twilio_signed, twiml_response


def _fallback() -> Response:
    return twiml_response(twiml.technical_difficulties())


@bp.post("/client")
@fail_safe(_fallback, caller_on_line=True)
@twilio_signed
def client() -> Response:
    """Dial the number the agent chose, showing the caller ID they picked (one of ours), if the dialing gate
    allows it; else the agent hears why."""
    form = request.form
    try:
        placed = outbound_calls.start_agent_call(
            db.session, call_sid=form.get("CallSid", ""), from_identity=form.get("From", ""),
            to_raw=form.get("To", ""), caller_id=form.get("CallerId") or None,
            allowed_caller_ids=caller_ids(),
            region=current_app.config["DEFAULT_REGION"],
            rules=DialRules.from_config(current_app.config), r=get_redis())
    except DomainError as exc:
        db.session.rollback()
        return twiml_response(twiml.refuse(exc.message))
    return twiml_response(twiml.dial_number(placed.to_e164, caller_id=placed.caller_id,
                                            status_callback=webhook_url("/status")))
