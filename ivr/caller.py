"""The caller's webhooks: greeting and IVR menu, queue and wait loop, callback, voicemail, back in line.

Each view checks the carrier's signature, calls one step of services.caller_steps and answers TwiML built by the
pure builders in ivr.flow_twiml / callcenter.telephony.twiml. Every URL given to the carrier is absolute on
PUBLIC_BASE_URL (callcenter.telephony.links), the same base the signature check rebuilds.
"""

from __future__ import annotations

import functools
import logging
from typing import Any

from flask import Response, current_app, request

from callcenter.background import beside_the_request
from callcenter.extensions import db
from callcenter.redis_conn import get_redis
from callcenter.services import caller_steps, ivr_flows, recordings
from callcenter.services.errors import Conflict
from callcenter.services.tickets import TicketPolicy
from callcenter.telephony import get_provider, twiml
from callcenter.telephony.links import join_twiml, webhook_url
from ivr import bp, flow_twiml
from ivr.guard import fail_safe, twilio_signed, twiml_response, xml_response
from ivr.params import whole_number

log = logging.getLogger(__name__)

TROUBLE_CONNECTING = flow_twiml.TROUBLE_CONNECTING
WAIT_DOCUMENTS_KEPT = 1024  # distinct wait turns (position, estimate, language, ...) kept built


def _fallback() -> Response:
    return twiml_response(twiml.technical_difficulties())


def _no_content() -> Response:
    return Response(status=204)


def _take_a_message() -> Response:
    """When queueing fails (Redis or the ACD down), the caller can still leave a message: the recording needs only
    the carrier, and the message becomes a ticket once the database answers."""
    return twiml_response(flow_twiml.voicemail(webhook_url("/voicemail"), message=TROUBLE_CONNECTING))


def _speech(definition: dict[str, Any] | None, locale: str | None = None) -> dict[str, Any]:
    """Language and voice of the built-in texts: the caller's chosen `locale` ("zh_Hans") when they chose one."""
    if not definition:
        return {}
    language, voice = ivr_flows.speech_for(definition, locale)
    return {"language": language, "voice": voice}


def _caller_speech(call_sid: str) -> dict[str, Any]:
    """The speech of a call's later screens: its flow's, in the language the caller chose."""
    return _speech(_definition(), caller_steps.caller_language(db.session, get_redis(), call_sid))


def _definition() -> dict[str, Any] | None:
    return caller_steps.flow_definition(db.session, request.form.get("To", ""), current_app.config["DEFAULT_REGION"])


@bp.post("/voice")
@fail_safe(_fallback, caller_on_line=True)
@twilio_signed
def voice() -> Response:
    """A call reached one of our numbers: log it, then greet with the number's menu (or its after-hours)."""
    form = request.form
    greeting = caller_steps.start_call(
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
            callback_choice_url=webhook_url("/after-hours/choice"), other_openings=state.other_openings))
    return twiml_response(flow_twiml.menu(definition, definition["start"], webhook_url("/menu"), greeting=True))


@bp.post("/menu")
@fail_safe(_take_a_message, caller_on_line=True)
@twilio_signed
def menu() -> Response:
    """The caller answered a menu (or stayed silent): re-prompt, go deeper, or route."""
    call_sid = request.form.get("CallSid", "")
    choice = caller_steps.menu_choice(
        db.session, get_redis(), call_sid=call_sid, to_number=request.form.get("To", ""),
        region=current_app.config["DEFAULT_REGION"], node_id=request.args.get("node") or None,
        attempt=whole_number(request.args.get("attempt")) or 0, digits=request.values.get("Digits"),
        speech=request.values.get("SpeechResult"))
    definition, decision = choice.definition, choice.decision
    if definition is None or decision is None:
        return twiml_response(flow_twiml.fallback())
    speech = _speech(definition, choice.language)
    if isinstance(decision, ivr_flows.Prompt):
        return twiml_response(flow_twiml.menu(definition, decision.node_id, webhook_url("/menu"),
                                              attempt=decision.attempt, reprompt=decision.reprompt))
    if isinstance(choice.placed, caller_steps.QueueClosed):
        message = flow_twiml.closed_now(choice.placed.opening_message, speech["language"])
        return twiml_response(flow_twiml.voicemail(webhook_url("/voicemail"), message=message, **speech))
    if isinstance(choice.placed, caller_steps.Queued):
        policy = recordings.policy_of(db.session, queue_id=choice.placed.queue_id)
        return _waiting(choice.placed.position, choice.placed.estimated_wait_seconds, speech,
                        consent=recordings.consent_required(policy))
    if isinstance(decision, ivr_flows.Voicemail):
        return twiml_response(flow_twiml.voicemail(webhook_url("/voicemail"), message=decision.message, **speech))
    if isinstance(decision, ivr_flows.Callback):
        return twiml_response(flow_twiml.callback_offer(webhook_url("/after-hours/choice"), message=decision.message,
                                                        **speech))
    return twiml_response(flow_twiml.hangup(decision.message, **speech))


def _waiting(position: int | None, estimated_wait_seconds: int | None, speech: dict[str, Any],
             consent: bool = False) -> Response:
    """One turn of the wait loop: announcement, hold music, * for a callback, back to /ivr/wait (`consent`: the
    recording consent prompt first, as the caller joins a queue that records)."""
    return xml_response(_waiting_document(
        webhook_url("/wait"), webhook_url("/wait/choice"), position, flow_twiml.announced_wait(estimated_wait_seconds),
        current_app.config["HOLD_SECONDS"], current_app.config["HOLD_MUSIC_URL"], consent,
        speech.get("language"), speech.get("voice")))


@functools.lru_cache(maxsize=WAIT_DOCUMENTS_KEPT)
def _waiting_document(wait_url: str, choice_url: str, position: int | None, estimated_wait_seconds: int | None,
                      hold_seconds: int, hold_music_url: str | None, consent: bool, language: str | None,
                      voice: str | None) -> str:
    """The wait turn's TwiML document, built once for each distinct turn: a floor's callers hear the same few
    positions and estimates turn after turn, and building the document was a tenth of a menu step's time."""
    speech = {"language": language, "voice": voice} if language else {}
    return flow_twiml.waiting(wait_url, choice_url, position=position, estimated_wait_seconds=estimated_wait_seconds,
                              hold_seconds=hold_seconds, hold_music_url=hold_music_url, consent=consent,
                              **speech).to_xml()


@bp.post("/wait")
@fail_safe(_take_a_message, caller_on_line=True)
@twilio_signed
def wait() -> Response:
    """One turn of the waiting loop: position and estimated wait, hold music, * for a callback."""
    call_sid = request.form.get("CallSid", "")
    status = caller_steps.wait_turn(db.session, get_redis(), call_sid)
    if status.conference_name:  # an agent answered and the redirect into their conference did not reach the call
        if status.agent_id is not None:
            beside_the_request(_record_if_policy, call_sid, status.agent_id, status.queue_id,
                               what=f"starting the recording of {call_sid}")
        return xml_response(join_twiml(status.conference_name, True))
    speech = _speech(_definition(), status.language)
    if not status.waiting:
        return twiml_response(flow_twiml.hangup(**speech))
    if status.over_max_wait:
        return twiml_response(flow_twiml.max_wait_reached(webhook_url("/voicemail"), **speech))
    return _waiting(status.position, status.estimated_wait_seconds, speech)


def _record_if_policy(call_sid: str, agent_id: int, queue_id: int | None) -> None:
    recordings.record_if_policy(db.session, get_provider(), customer_sid=call_sid, agent_id=agent_id,
                                queue_id=queue_id, status_callback=webhook_url("/recording/status"))


@bp.post("/wait/choice")
@fail_safe(_take_a_message, caller_on_line=True)
@twilio_signed
def wait_choice() -> Response:
    """A key pressed while waiting: * books a callback that keeps the place; anything else resumes the wait."""
    if not flow_twiml.is_callback_request(request.values.get("Digits")):
        return twiml_response(flow_twiml.resume_wait(webhook_url("/wait")))
    speech = _caller_speech(request.form.get("CallSid", ""))
    try:
        caller_steps.request_callback(db.session, get_redis(), request.form.get("CallSid", ""))
    except Conflict as exc:
        log.info("callback refused: %s", exc.message)
        return twiml_response(flow_twiml.resume_wait(webhook_url("/wait")))
    return twiml_response(flow_twiml.callback_confirmed(in_queue=True, **speech))


@bp.post("/after-hours/choice")
@fail_safe(_fallback, caller_on_line=True)
@twilio_signed
def after_hours_choice() -> Response:
    """Closed line: 1 books a callback for when we open, 2 (or anything else) leaves a message."""
    speech = _caller_speech(request.form.get("CallSid", ""))
    if request.values.get("Digits") == "1":
        caller_steps.schedule_callback_for_opening(db.session, call_sid=request.form.get("CallSid", ""))
        return twiml_response(flow_twiml.callback_confirmed(**speech))
    return twiml_response(flow_twiml.voicemail(webhook_url("/voicemail"), **speech))


@bp.post("/voicemail")
@fail_safe(_fallback, caller_on_line=True)
@twilio_signed
def voicemail() -> Response:
    """The Record verb finished: keep the recording and open a ticket for it."""
    form = request.values  # what the caller recorded is in the URL when the step is retried (ivr.guard)
    ticket = caller_steps.voicemail_received(
        db.session, call_sid=form.get("CallSid", ""), recording_url=form.get("RecordingUrl"),
        recording_sid=form.get("RecordingSid"), duration_seconds=whole_number(form.get("RecordingDuration")),
        transcription=form.get("TranscriptionText"), policy=TicketPolicy.from_config(current_app.config))
    speech = _caller_speech(form.get("CallSid", ""))
    if ticket is None:
        return twiml_response(flow_twiml.hangup(**speech))
    return twiml_response(flow_twiml.recording_saved(**speech))


@bp.post("/voicemail/transcription")
@fail_safe(_no_content)
@twilio_signed
def voicemail_transcription() -> Response:
    """The transcription of a voicemail (Record's transcribeCallback), after or before the message's ticket."""
    form = request.form
    caller_steps.voicemail_transcribed(
        db.session, call_sid=form.get("CallSid", ""), recording_sid=form.get("RecordingSid"),
        status=form.get("TranscriptionStatus") or "", text=form.get("TranscriptionText") or "")
    return _no_content()


@bp.post("/requeue")
@fail_safe(_take_a_message, caller_on_line=True)
@twilio_signed
def requeue() -> Response:
    """The customer's agent vanished: back in line, ahead of new callers."""
    queue_id = whole_number(request.args.get("queue"))
    speech = _caller_speech(request.form.get("CallSid", ""))
    if queue_id is None:
        return twiml_response(flow_twiml.fallback(**speech))
    placed = caller_steps.requeue_caller(db.session, get_redis(), call_sid=request.form.get("CallSid", ""),
                                          queue_id=queue_id)
    return _waiting(placed.position, placed.estimated_wait_seconds, speech)
