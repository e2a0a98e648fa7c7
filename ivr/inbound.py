"""The inbound call webhooks: greeting and IVR menu, queue and wait loop, callback, voicemail, agent legs.

Each view checks the carrier's signature, calls one step of services.inbound_calls and answers TwiML built by the
pure builders in ivr.flow_twiml / callcenter.telephony.twiml. Every URL given to the carrier is absolute on
PUBLIC_BASE_URL (callcenter.telephony.links), the same base the signature check rebuilds.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Response, current_app, request

from callcenter.extensions import db
from callcenter.redis_conn import get_redis
from callcenter.services import inbound_calls, ivr_flows
from callcenter.services.errors import Conflict
from callcenter.telephony import get_provider, twiml
from callcenter.telephony.base import TelephonyError
from callcenter.telephony.links import webhook_url
from ivr import bp, flow_twiml
from ivr.guard import fail_safe, twilio_signed, twiml_response

log = logging.getLogger(__name__)

TROUBLE_CONNECTING = "We are sorry, we cannot connect you to an agent right now."


def _fallback() -> Response:
    return twiml_response(twiml.technical_difficulties())


def _take_a_message() -> Response:
    """When queueing fails (Redis or the ACD down), the caller can still leave a message: the recording needs only
    the carrier, and the message becomes a ticket once the database answers."""
    return twiml_response(flow_twiml.voicemail(webhook_url("/voicemail"), message=TROUBLE_CONNECTING))


def _no_content() -> Response:
    return Response(status=204)


def _speech(definition: dict[str, Any] | None) -> dict[str, Any]:
    if not definition:
        return {}
    language, voice = flow_twiml.speech_of(definition)
    return {"language": language, "voice": voice}


def _definition() -> dict[str, Any] | None:
    return inbound_calls.flow_definition(db.session, request.form.get("To", ""), current_app.config["DEFAULT_REGION"])


@bp.post("/voice")
@fail_safe(_fallback, caller_on_line=True)
@twilio_signed
def voice() -> Response:
    """A call reached one of our numbers: log it, then greet with the number's menu (or its after-hours)."""
    form = request.form
    greeting = inbound_calls.start_call(
        db.session, call_sid=form.get("CallSid", ""), from_number=form.get("From", ""),
        to_number=form.get("To", ""), status=form.get("CallStatus") or None,
        region=current_app.config["DEFAULT_REGION"],
    )
    definition, state = greeting.definition, greeting.state
    if definition is None or state is None:
        log.warning("call %s to %s: no active IVR flow for this number", greeting.call.call_sid, form.get("To"))
        return twiml_response(flow_twiml.fallback())
    if not state.open:
        return twiml_response(flow_twiml.after_hours(
            definition, opening_message=state.opening_message, record_action_url=webhook_url("/voicemail"),
            callback_choice_url=webhook_url("/after-hours/choice")))
    return twiml_response(flow_twiml.menu(definition, definition["start"], webhook_url("/menu"), greeting=True))


@bp.post("/menu")
@fail_safe(_take_a_message, caller_on_line=True)
@twilio_signed
def menu() -> Response:
    """The caller answered a menu (or stayed silent): re-prompt, go deeper, or route."""
    definition = _definition()
    if definition is None:
        return twiml_response(flow_twiml.fallback())
    node_id = request.args.get("node") or definition["start"]
    attempt = request.args.get("attempt", "0")
    attempt_number = int(attempt) if attempt.isdigit() else 0
    decision = ivr_flows.decide(definition, node_id, attempt_number, request.form.get("Digits"),
                                request.form.get("SpeechResult"))
    call_sid = request.form.get("CallSid", "")
    inbound_calls.record_ivr_step(db.session, call_sid, decision.step, attempt_number)
    speech = _speech(definition)
    if isinstance(decision, ivr_flows.Prompt):
        return twiml_response(flow_twiml.menu(definition, decision.node_id, webhook_url("/menu"),
                                              attempt=decision.attempt, reprompt=decision.reprompt))
    if isinstance(decision, ivr_flows.RouteToQueue):
        return _queue(call_sid, decision.queue_name, decision.priority_boost, speech)
    if isinstance(decision, ivr_flows.Voicemail):
        return twiml_response(flow_twiml.voicemail(webhook_url("/voicemail"), message=decision.message, **speech))
    if isinstance(decision, ivr_flows.Callback):
        return twiml_response(flow_twiml.callback_offer(webhook_url("/after-hours/choice"), message=decision.message,
                                                        **speech))
    return twiml_response(flow_twiml.hangup(decision.message, **speech))


def _queue(call_sid: str, queue_name: str, priority_boost: int, speech: dict[str, Any]) -> Response:
    placed = inbound_calls.queue_caller(db.session, get_redis(), call_sid=call_sid, queue_name=queue_name,
                                        priority_boost=priority_boost)
    if isinstance(placed, inbound_calls.QueueClosed):
        message = " ".join(m for m in ("We are closed at the moment.", placed.opening_message) if m)
        return twiml_response(flow_twiml.voicemail(webhook_url("/voicemail"), message=message, **speech))
    return _waiting(placed.position, placed.estimated_wait_seconds, speech)


def _waiting(position: int | None, estimated_wait_seconds: int | None, speech: dict[str, Any]) -> Response:
    """One turn of the wait loop: announcement, hold music, * for a callback, back to /ivr/wait."""
    return twiml_response(flow_twiml.waiting(
        webhook_url("/wait"), webhook_url("/wait/choice"), position=position,
        estimated_wait_seconds=estimated_wait_seconds, hold_seconds=current_app.config["HOLD_SECONDS"],
        hold_music_url=current_app.config["HOLD_MUSIC_URL"], **speech))


@bp.post("/wait")
@fail_safe(_take_a_message, caller_on_line=True)
@twilio_signed
def wait() -> Response:
    """One turn of the waiting loop: position and estimated wait, hold music, * for a callback."""
    call_sid = request.form.get("CallSid", "")
    speech = _speech(_definition())
    status = inbound_calls.wait_status(db.session, get_redis(), call_sid)
    if not status.waiting:
        return twiml_response(flow_twiml.hangup(**speech))
    if status.over_max_wait:
        inbound_calls.leave_queue(db.session, get_redis(), call_sid, "max wait reached")
        return twiml_response(flow_twiml.max_wait_reached(webhook_url("/voicemail"), **speech))
    return _waiting(status.position, status.estimated_wait_seconds, speech)


@bp.post("/wait/choice")
@fail_safe(_take_a_message, caller_on_line=True)
@twilio_signed
def wait_choice() -> Response:
    """A key pressed while waiting: * books a callback that keeps the place; anything else resumes the wait."""
    speech = _speech(_definition())
    if not flow_twiml.is_callback_request(request.form.get("Digits")):
        return twiml_response(flow_twiml.resume_wait(webhook_url("/wait")))
    try:
        inbound_calls.request_callback(db.session, get_redis(), request.form.get("CallSid", ""))
    except Conflict as exc:
        log.info("callback refused: %s", exc.message)
        return twiml_response(flow_twiml.resume_wait(webhook_url("/wait")))
    return twiml_response(flow_twiml.callback_confirmed(in_queue=True, **speech))


@bp.post("/after-hours/choice")
@fail_safe(_fallback, caller_on_line=True)
@twilio_signed
def after_hours_choice() -> Response:
    """Closed line: 1 books a callback for when we open, 2 (or anything else) leaves a message."""
    speech = _speech(_definition())
    if request.form.get("Digits") == "1":
        inbound_calls.schedule_callback_for_opening(db.session, call_sid=request.form.get("CallSid", ""))
        return twiml_response(flow_twiml.callback_confirmed(**speech))
    return twiml_response(flow_twiml.voicemail(webhook_url("/voicemail"), **speech))


@bp.post("/voicemail")
@fail_safe(_fallback, caller_on_line=True)
@twilio_signed
def voicemail() -> Response:
    """The Record verb finished: keep the recording and open a ticket for it."""
    form = request.form
    duration = form.get("RecordingDuration", "")
    ticket = inbound_calls.voicemail_received(
        db.session, call_sid=form.get("CallSid", ""), recording_url=form.get("RecordingUrl"),
        recording_sid=form.get("RecordingSid"), duration_seconds=int(duration) if duration.isdigit() else None,
        transcription=form.get("TranscriptionText"))
    speech = _speech(_definition())
    if ticket is None:
        return twiml_response(flow_twiml.hangup(**speech))
    return twiml_response(flow_twiml.recording_saved(**speech))


@bp.post("/agent/answer")
@fail_safe(_fallback, caller_on_line=True)
@twilio_signed
def agent_answer() -> Response:
    """The agent picked up their softphone: bridge them and the caller in the interaction's conference."""
    entry_id = request.args.get("entry", "")
    agent_text = request.args.get("agent", "")
    if not agent_text.isdigit():
        return twiml_response(twiml.call_unavailable())
    try:
        link = inbound_calls.agent_answered(db.session, get_redis(), agent_id=int(agent_text), entry_id=entry_id,
                                            agent_leg_sid=request.form.get("CallSid", ""))
    except Conflict:
        return twiml_response(twiml.call_unavailable())
    provider = get_provider()
    name = link["conference_name"]
    status_url = webhook_url("/conference/status")
    if link.get("callback_phone"):
        customer = provider.add_participant(
            name, from_=current_app.config["OUTBOUND_CALLER_ID"], to=link["callback_phone"], label="customer",
            end_conference_on_exit=True, status_callback=webhook_url("/status"),
            status_callback_events=("initiated", "ringing", "answered", "completed"))
        inbound_calls.callback_dialed(get_redis(), entry_id, customer.call_sid)
    else:
        provider.redirect_call(link["caller_sid"], twiml=twiml.join_conference(
            name, end_on_exit=True, status_callback=status_url).to_xml())
    # The agent's leg does not end the conference: if it drops (a reloaded tab), the customer stays while the
    # agent rejoins; the agent's hang-up button ends the customer's leg instead (see inbound_calls.hang_up).
    return twiml_response(twiml.join_conference(name, end_on_exit=False, status_callback=status_url))


@bp.post("/agent/rejoin")
@fail_safe(_fallback, caller_on_line=True)
@twilio_signed
def agent_rejoin() -> Response:
    """The agent's softphone is back for a call it dropped: into the same conference again."""
    agent_text = request.args.get("agent", "")
    if not agent_text.isdigit():
        return twiml_response(twiml.call_unavailable())
    try:
        link = inbound_calls.rejoin_answered(get_redis(), agent_id=int(agent_text),
                                             entry_id=request.args.get("entry", ""),
                                             leg_sid=request.form.get("CallSid", ""))
    except Conflict:
        return twiml_response(twiml.call_unavailable())
    return twiml_response(twiml.join_conference(link["conference_name"], end_on_exit=False,
                                                status_callback=webhook_url("/conference/status")))


@bp.post("/requeue")
@fail_safe(_take_a_message, caller_on_line=True)
@twilio_signed
def requeue() -> Response:
    """The customer's agent vanished: back in line, ahead of new callers."""
    queue_text = request.args.get("queue", "")
    speech = _speech(_definition())
    if not queue_text.isdigit():
        return twiml_response(flow_twiml.fallback(**speech))
    placed = inbound_calls.requeue_caller(db.session, get_redis(), call_sid=request.form.get("CallSid", ""),
                                          queue_id=int(queue_text))
    return _waiting(placed.position, placed.estimated_wait_seconds, speech)


def rejoin_agent(agent_id: int, entry_id: str) -> str:
    """Ring the agent's softphone back into a call it dropped; returns the new leg's CallSid."""
    inbound_calls.owned_call(get_redis(), agent_id, entry_id)  # Conflict unless it is still their call
    leg = get_provider().place_call(
        to=f"client:{inbound_calls.agent_identity(agent_id)}",
        from_=current_app.config["OUTBOUND_CALLER_ID"],
        url=webhook_url("/agent/rejoin", entry=entry_id, agent=agent_id),
        status_callback=webhook_url("/agent/status", entry=entry_id, agent=agent_id),
        status_callback_events=("initiated", "ringing", "answered", "completed"),
        timeout=20,
    )
    return leg.sid


def expire_orphan(entry_id: str) -> None:
    """An agent did not come back in time: wrap them up and put the customer back in the queue."""
    r = get_redis()
    data = inbound_calls.interaction(r, entry_id) or {}
    caller_sid = data.get("caller_sid")
    queue_id = inbound_calls.requeue_orphan(db.session, r, entry_id)
    if caller_sid and queue_id is not None:
        try:
            get_provider().redirect_call(caller_sid, url=webhook_url("/requeue", queue=queue_id))
        except TelephonyError as exc:
            log.info("customer %s of %s is already gone: %s", caller_sid, entry_id, exc)


@bp.post("/agent/status")
@fail_safe(_no_content)
@twilio_signed
def agent_status() -> Response:
    """Progress of an agent's softphone leg: an unanswered leg gives the offer back."""
    agent_text = request.args.get("agent", "")
    if agent_text.isdigit():
        inbound_calls.agent_leg_ended(db.session, get_redis(), agent_id=int(agent_text),
                                      entry_id=request.args.get("entry", ""),
                                      status=(request.form.get("CallStatus") or "").lower(),
                                      leg_sid=request.form.get("CallSid"),
                                      rejoin_grace_seconds=current_app.config["AGENT_REJOIN_GRACE_SECONDS"])
    return _no_content()


@bp.post("/conference/status")
@fail_safe(_no_content)
@twilio_signed
def conference_status() -> Response:
    """Conference events are not needed for the call record (the legs report themselves); acknowledged only."""
    return _no_content()


def ring_agent(agent_id: int, entry_id: str, from_number: str | None, timeout_seconds: float) -> str:
    """Ring the agent's softphone for an offer whose pop they have seen; returns the leg's CallSid."""
    leg = get_provider().place_call(
        to=f"client:{inbound_calls.agent_identity(agent_id)}",
        from_=from_number or current_app.config["OUTBOUND_CALLER_ID"],
        url=webhook_url("/agent/answer", entry=entry_id, agent=agent_id),
        status_callback=webhook_url("/agent/status", entry=entry_id, agent=agent_id),
        status_callback_events=("initiated", "ringing", "answered", "completed"),
        timeout=max(int(timeout_seconds), 5),
    )
    inbound_calls.ringing_agent(get_redis(), entry_id, agent_id, leg.sid)
    return leg.sid

