"""The dialer's calls: answered (a person or a machine), waiting for an agent, progress callbacks.

Each view checks the carrier's signature, calls one step of services.campaign_calls and answers TwiML built by
callcenter.telephony.twiml. The attempt (`attempt`) and campaign (`campaign`) are in the URL the dialer gave the
carrier, so they are signed too.
"""

from __future__ import annotations

import time

from flask import Response, current_app, request
from twilio.twiml.voice_response import VoiceResponse

from callcenter.extensions import db
from callcenter.models.base import utcnow
from callcenter.redis_conn import get_redis
from callcenter.services import campaign_calls, recordings
from callcenter.telephony import links, twiml
from ivr import bp, flow_twiml
from ivr.guard import fail_safe, twilio_signed, twiml_response
from ivr.params import whole_number


def _fallback() -> Response:
    return twiml_response(twiml.technical_difficulties())


def _no_content() -> Response:
    return Response(status=204)


def _twiml(step: campaign_calls.Step) -> VoiceResponse:
    if step.kind == "wait":
        return twiml.wait_for_agent(step.wait_seconds, links.webhook_url(
            "/campaign/connect", campaign=request.args.get("campaign"), attempt=request.args.get("attempt")))
    if step.kind == "bridged" and step.conference:
        return twiml.join_conference(step.conference, end_on_exit=True,
                                     status_callback=links.webhook_url("/conference/status"))
    return twiml.say_and_hang_up(step.text)


def _render(step: campaign_calls.Step) -> Response:
    return twiml_response(_twiml(step))


@bp.post("/campaign/answer")
@fail_safe(_fallback, caller_on_line=True)
@twilio_signed
def campaign_answer() -> Response:
    """A campaign call was answered: a person waits for an agent (2 s at most), a machine gets the voicemail
    drop."""
    step = campaign_calls.answered(
        db.session, get_redis(), call_sid=request.form.get("CallSid", ""),
        attempt_id=whole_number(request.args.get("attempt")), answered_by=request.form.get("AnsweredBy"),
        now=time.time(), connect_seconds=current_app.config["CAMPAIGN_CONNECT_SECONDS"])
    campaign_id = whole_number(request.args.get("campaign"))
    if step.kind in ("wait", "bridged") and campaign_id is not None and recordings.consent_required(
            recordings.policy_of(db.session, queue_id=None, campaign_id=campaign_id)):
        return twiml_response(flow_twiml.with_consent(_twiml(step)))  # the person may be recorded: say so first
    return _render(step)


@bp.post("/campaign/connect")
@fail_safe(_fallback, caller_on_line=True)
@twilio_signed
def campaign_connect() -> Response:
    """The person we called is still waiting: with an agent now, a little longer, or abandoned (the campaign's
    identification message)."""
    step = campaign_calls.connect_check(db.session, get_redis(), call_sid=request.form.get("CallSid", ""),
                                        attempt_id=whole_number(request.args.get("attempt")), now=time.time())
    return _render(step)


@bp.post("/campaign/status")
@fail_safe(_no_content)
@twilio_signed
def campaign_status() -> Response:
    """Progress of a campaign call: the call's log, and the lead's fate once it ended unanswered."""
    campaign_calls.call_status(db.session, get_redis(), request.form,
                               attempt_id=whole_number(request.args.get("attempt")), received_at=utcnow())
    return _no_content()
