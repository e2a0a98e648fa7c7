"""Twilio's 2010-04-01 REST API for calls, conferences, participants and messages, as the emulator answers it.

Paths, form fields, JSON bodies and error shapes are Twilio's, so the product drives the emulator with the real
`twilio.rest.Client`; the contract test validates every answer against Twilio's OpenAPI response schemas.
"""

from __future__ import annotations

import base64
import hmac
import io
import wave
from collections.abc import Callable
from datetime import datetime
from functools import wraps
from typing import Any

import phonenumbers
from flask import Blueprint, Response, current_app, jsonify, request
from werkzeug.exceptions import HTTPException

from callcenter.telephony.sim import messaging
from callcenter.telephony.sim.conference import Conference, Participant
from callcenter.telephony.sim.engine import API_VERSION, Call, Carrier, CarrierRestError, Recording
from callcenter.telephony.sim.messaging import SimMessage

bp = Blueprint("sim_rest", __name__)
ACCOUNT = f"/{API_VERSION}/Accounts/<account_sid>"
MAX_PAGE_SIZE = 1000
MAX_RECORDING_SECONDS = 600


def carrier() -> Carrier:
    return current_app.extensions["sim.carrier"]


def error(status: int, code: int, message: str) -> Response:
    """Twilio's JSON error body."""
    response = jsonify({"code": code, "message": message, "more_info": f"https://www.twilio.com/docs/errors/{code}",
                        "status": status})
    response.status_code = status
    if status == 401:
        response.headers["WWW-Authenticate"] = 'Basic realm="Twilio API"'
    return response


@bp.errorhandler(CarrierRestError)
def _carrier_error(exc: CarrierRestError) -> Response:
    return error(exc.status, exc.code, exc.message)


@bp.errorhandler(HTTPException)
def _http_error(exc: HTTPException) -> Response:
    return error(exc.code or 500, 20000 + (exc.code or 500), exc.description or exc.name)


def _authorized(account_sid: str) -> bool:
    header = request.headers.get("Authorization", "")
    if not header.startswith("Basic "):
        return False
    try:
        username, _, password = base64.b64decode(header[6:]).decode().partition(":")
    except (ValueError, UnicodeDecodeError):
        return False
    sim = carrier()
    known_user = username == sim.account_sid or (username.startswith("SK") and len(username) == 34)
    return known_user and hmac.compare_digest(password, sim.auth_token)


def authenticated(view: Callable[..., Any]) -> Callable[..., Any]:
    """HTTP Basic with the account SID (or an API key SID) and the auth token, like Twilio."""

    @wraps(view)
    def wrapper(account_sid: str, **kwargs: Any) -> Any:
        if not _authorized(account_sid):
            return error(401, 20003, "Authenticate")
        if account_sid != carrier().account_sid:
            return error(404, 20404, f"The requested resource {request.path} was not found")
        return view(account_sid=account_sid, **kwargs)

    return wrapper


# ---- form parsing --------------------------------------------------------------------------------------------


def _bool(name: str, default: bool | None = None) -> bool | None:
    value = request.form.get(name)
    if value is None or value == "":
        return default
    lowered = value.lower()
    if lowered not in ("true", "false"):
        raise CarrierRestError(400, 21600, f"{name} must be true or false, not {value!r}")
    return lowered == "true"


def _int(name: str, default: int, minimum: int = 0, maximum: int = 600) -> int:
    value = request.form.get(name) or request.args.get(name)
    if value in (None, ""):
        return default
    try:
        number = int(value)
    except ValueError:
        raise CarrierRestError(400, 21600, f"{name} must be an integer, not {value!r}") from None
    return max(minimum, min(maximum, number))


def _method(name: str, default: str = "POST") -> str:
    value = (request.form.get(name) or default).upper()
    if value not in ("GET", "POST"):
        raise CarrierRestError(400, 21600, f"{name} must be GET or POST")
    return value


def _events(name: str) -> list[str]:
    values: list[str] = []
    for raw in request.form.getlist(name):
        values.extend(raw.replace(",", " ").split())
    return values


# ---- rendering -----------------------------------------------------------------------------------------------


def _date(moment: datetime | None) -> str | None:
    return moment.strftime("%a, %d %b %Y %H:%M:%S +0000") if moment else None


def _formatted(number: str) -> str:
    try:
        parsed = phonenumbers.parse(number)
    except phonenumbers.NumberParseException:
        return number
    if parsed.country_code == 1:
        return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.NATIONAL)
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def call_json(call: Call) -> dict[str, Any]:
    base = f"/{API_VERSION}/Accounts/{call.account_sid}/Calls/{call.sid}"
    return {
        "sid": call.sid,
        "date_created": _date(call.date_created),
        "date_updated": _date(call.date_updated),
        "parent_call_sid": call.parent_call_sid,
        "account_sid": call.account_sid,
        "to": call.to,
        "to_formatted": _formatted(call.to),
        "from": call.from_,
        "from_formatted": _formatted(call.from_),
        "phone_number_sid": call.phone_number_sid,
        "status": call.status,
        "start_time": _date(call.start_time),
        "end_time": _date(call.end_time),
        "duration": str(call.duration) if call.duration is not None else None,
        "price": None,
        "price_unit": "USD",
        "direction": call.direction,
        "answered_by": call.answered_by,
        "api_version": API_VERSION,
        "forwarded_from": call.forwarded_from,
        "group_sid": None,
        "caller_name": call.caller_name,
        "queue_time": call.queue_time or "0",
        "trunk_sid": None,
        "uri": f"{base}.json",
        "subresource_uris": {
            name: f"{base}/{path}.json"
            for name, path in (("notifications", "Notifications"), ("recordings", "Recordings"),
                               ("payments", "Payments"), ("events", "Events"), ("siprec", "Siprec"),
                               ("streams", "Streams"), ("transcriptions", "Transcriptions"),
                               ("user_defined_message_subscriptions", "UserDefinedMessageSubscriptions"),
                               ("user_defined_messages", "UserDefinedMessages"))
        },
    }


def conference_json(conference: Conference) -> dict[str, Any]:
    """A conference; `reason_conference_ended` is left out while live (Twilio's schema types it non-null)."""
    base = f"/{API_VERSION}/Accounts/{conference.account_sid}/Conferences/{conference.sid}"
    body = {
        "account_sid": conference.account_sid,
        "date_created": _date(conference.date_created),
        "date_updated": _date(conference.date_updated),
        "api_version": API_VERSION,
        "friendly_name": conference.friendly_name,
        "region": conference.region,
        "sid": conference.sid,
        "status": conference.status,
        "uri": f"{base}.json",
        "subresource_uris": {"participants": f"{base}/Participants.json", "recordings": f"{base}/Recordings.json"},
        "reason_conference_ended": conference.reason_conference_ended,
        "call_sid_ending_conference": conference.call_sid_ending_conference,
    }
    if conference.reason_conference_ended is None:
        del body["reason_conference_ended"]
    return body


def participant_json(participant: Participant) -> dict[str, Any]:
    conference = participant.conference
    return {
        "account_sid": conference.account_sid,
        "call_sid": participant.call.sid,
        "label": participant.label,
        "call_sid_to_coach": participant.call_sid_to_coach,
        "coaching": participant.coaching,
        "conference_sid": conference.sid,
        "date_created": _date(participant.date_created),
        "date_updated": _date(participant.date_updated),
        "end_conference_on_exit": participant.end_conference_on_exit,
        "muted": participant.muted,
        "hold": participant.hold,
        "start_conference_on_enter": participant.start_conference_on_enter,
        "status": participant.status,
        "queue_time": participant.queue_time_ms,
        "uri": f"/{API_VERSION}/Accounts/{conference.account_sid}/Conferences/{conference.sid}/Participants/"
               f"{participant.call.sid}.json",
    }


def _page(key: str, items: list[dict[str, Any]]) -> Response:
    """One page holding everything (the SDK stops when next_page_uri is null)."""
    size = _int("PageSize", 50, 1, MAX_PAGE_SIZE)
    page = items[:size]
    path = request.path
    query = request.query_string.decode()
    uri = f"{path}?{query}" if query else path
    return jsonify({
        key: page, "end": max(0, len(page) - 1), "first_page_uri": uri, "next_page_uri": None, "page": 0,
        "page_size": size, "previous_page_uri": None, "start": 0, "uri": uri,
    })


# ---- calls ---------------------------------------------------------------------------------------------------


@bp.post(f"{ACCOUNT}/Calls.json")
@authenticated
def create_call(account_sid: str) -> tuple[Response, int]:
    form = request.form
    call = carrier().place_call(
        to=form.get("To", ""),
        from_=form.get("From", ""),
        url=form.get("Url") or None,
        twiml=form.get("Twiml") or None,
        method=_method("Method"),
        fallback_url=form.get("FallbackUrl") or None,
        fallback_method=_method("FallbackMethod"),
        status_callback=form.get("StatusCallback") or None,
        status_callback_events=_events("StatusCallbackEvent") or None,
        status_callback_method=_method("StatusCallbackMethod"),
        timeout=_int("Timeout", 60, 1, 600),
        machine_detection=form.get("MachineDetection") or None,
        async_amd=bool(_bool("AsyncAmd", False)),
        async_amd_status_callback=form.get("AsyncAmdStatusCallback") or None,
        record=bool(_bool("Record", False)),
        defer_start=True,
    )
    body = jsonify(call_json(call))
    carrier().launch(call)
    return body, 201


@bp.get(f"{ACCOUNT}/Calls.json")
@authenticated
def list_calls(account_sid: str) -> Response:
    sim = carrier()
    wanted = {"to": request.args.get("To"), "from_": request.args.get("From"),
              "status": request.args.get("Status"), "parent_call_sid": request.args.get("ParentCallSid")}
    with sim.cond:
        calls = [c for c in sim.calls.values()
                 if all(value is None or getattr(c, name) == value for name, value in wanted.items())]
    calls.sort(key=lambda c: c.date_created, reverse=True)
    return _page("calls", [call_json(c) for c in calls])


def _call(call_sid: str) -> Call:
    with carrier().cond:
        call = carrier().calls.get(call_sid)
    if call is None:
        raise CarrierRestError(404, 20404, f"The requested resource {request.path} was not found")
    return call


@bp.get(f"{ACCOUNT}/Calls/<call_sid>.json")
@authenticated
def fetch_call(account_sid: str, call_sid: str) -> Response:
    return jsonify(call_json(_call(call_sid)))


@bp.post(f"{ACCOUNT}/Calls/<call_sid>.json")
@authenticated
def update_call(account_sid: str, call_sid: str) -> Response:
    sim = carrier()
    call = _call(call_sid)
    form = request.form
    status = form.get("Status")
    if status:
        if status not in ("completed", "canceled"):
            raise CarrierRestError(400, 21218, f"Invalid Status {status!r}: must be completed or canceled")
        sim.end(call.sid, status)
    elif form.get("Url") or form.get("Twiml"):
        if form.get("Url") and form.get("Twiml"):
            raise CarrierRestError(400, 21205, "Url and Twiml cannot both be given")
        sim.redirect(call.sid, url=form.get("Url") or None, twiml=form.get("Twiml") or None,
                     method=_method("Method"))
    if form.get("StatusCallback"):
        with sim.cond:
            call.status_callback = form["StatusCallback"]
            call.status_callback_method = _method("StatusCallbackMethod")
    if form.get("FallbackUrl"):
        with sim.cond:
            call.fallback_url = form["FallbackUrl"]
            call.fallback_method = _method("FallbackMethod")
    if status:
        sim_wait_ended(sim, call)
    return jsonify(call_json(call))


def sim_wait_ended(sim: Carrier, call: Call, seconds: float = 2.0) -> None:
    """Twilio answers a hangup with the final status: give the call's thread a moment to finish."""
    import time

    deadline = time.monotonic() + seconds
    with sim.cond:
        while not call.ended and time.monotonic() < deadline:
            sim.cond.wait(0.05)


# ---- conferences ---------------------------------------------------------------------------------------------


@bp.get(f"{ACCOUNT}/Conferences.json")
@authenticated
def list_conferences(account_sid: str) -> Response:
    sim = carrier()
    name = request.args.get("FriendlyName")
    status = request.args.get("Status")
    with sim.cond:
        conferences = [c for c in sim.conferences.values()
                       if (name is None or c.friendly_name == name) and (status is None or c.status == status)]
    conferences.sort(key=lambda c: c.date_created, reverse=True)
    return _page("conferences", [conference_json(c) for c in conferences])


@bp.get(f"{ACCOUNT}/Conferences/<conference_sid>.json")
@authenticated
def fetch_conference(account_sid: str, conference_sid: str) -> Response:
    with carrier().cond:
        conference = carrier().conferences.get(conference_sid)
    if conference is None:
        raise CarrierRestError(404, 20404, f"The requested resource {request.path} was not found")
    return jsonify(conference_json(conference))


@bp.post(f"{ACCOUNT}/Conferences/<conference_sid>.json")
@authenticated
def update_conference(account_sid: str, conference_sid: str) -> Response:
    sim = carrier()
    with sim.cond:
        conference = sim.conferences.get(conference_sid)
    if conference is None:
        raise CarrierRestError(404, 20404, f"The requested resource {request.path} was not found")
    status = request.form.get("Status")
    if status is not None and status != "completed":
        raise CarrierRestError(400, 21600, "Status can only be completed")
    if status == "completed":
        sim.end_conference(conference.sid)
    return jsonify(conference_json(conference))


@bp.post(f"{ACCOUNT}/Conferences/<conference_sid>/Participants.json")
@authenticated
def create_participant(account_sid: str, conference_sid: str) -> tuple[Response, int]:
    form = request.form
    beep = form.get("Beep", "true")
    if beep not in ("true", "false", "onEnter", "onExit"):
        raise CarrierRestError(400, 21600, "Beep must be true, false, onEnter or onExit")
    participant = carrier().add_participant(
        conference_sid,
        from_=form.get("From", ""),
        to=form.get("To", ""),
        label=form.get("Label") or None,
        early_media=bool(_bool("EarlyMedia", True)),
        beep=beep,
        start_conference_on_enter=bool(_bool("StartConferenceOnEnter", True)),
        end_conference_on_exit=bool(_bool("EndConferenceOnExit", False)),
        muted=bool(_bool("Muted", False)),
        hold=bool(_bool("Hold", False)),
        coaching=bool(_bool("Coaching", False)),
        call_sid_to_coach=form.get("CallSidToCoach") or None,
        status_callback=form.get("StatusCallback") or None,
        status_callback_method=_method("StatusCallbackMethod"),
        status_callback_events=_events("StatusCallbackEvent") or None,
        conference_status_callback=form.get("ConferenceStatusCallback") or None,
        conference_status_callback_method=_method("ConferenceStatusCallbackMethod"),
        conference_status_callback_events=_events("ConferenceStatusCallbackEvent") or None,
        timeout=_int("Timeout", 60, 5, 600),
        wait_url=form.get("WaitUrl"),
        wait_method=_method("WaitMethod"),
        defer_start=True,
    )
    body = jsonify(participant_json(participant))
    carrier().launch(participant.call)
    return body, 201


def _conference(conference_sid: str) -> Conference:
    with carrier().cond:
        conference = carrier().conferences.get(conference_sid)
    if conference is None:
        raise CarrierRestError(404, 20404, f"The requested resource {request.path} was not found")
    return conference


@bp.get(f"{ACCOUNT}/Conferences/<conference_sid>/Participants.json")
@authenticated
def list_participants(account_sid: str, conference_sid: str) -> Response:
    conference = _conference(conference_sid)
    muted = request.args.get("Muted")
    hold = request.args.get("Hold")
    coaching = request.args.get("Coaching")
    with carrier().cond:
        participants = [
            p for p in conference.active()
            if (muted is None or str(p.muted).lower() == muted.lower())
            and (hold is None or str(p.hold).lower() == hold.lower())
            and (coaching is None or str(p.coaching).lower() == coaching.lower())
        ]
    return _page("participants", [participant_json(p) for p in participants])


def _participant(conference: Conference, call_sid_or_label: str) -> Participant:
    with carrier().cond:
        participant = conference.find(call_sid_or_label)
    if participant is None:
        raise CarrierRestError(404, 20404, f"The requested resource {request.path} was not found")
    return participant


@bp.get(f"{ACCOUNT}/Conferences/<conference_sid>/Participants/<call_sid>.json")
@authenticated
def fetch_participant(account_sid: str, conference_sid: str, call_sid: str) -> Response:
    return jsonify(participant_json(_participant(_conference(conference_sid), call_sid)))


@bp.post(f"{ACCOUNT}/Conferences/<conference_sid>/Participants/<call_sid>.json")
@authenticated
def update_participant(account_sid: str, conference_sid: str, call_sid: str) -> Response:
    conference = _conference(conference_sid)
    _participant(conference, call_sid)
    form = request.form
    changes: dict[str, Any] = {}
    for field, name in (("hold", "Hold"), ("muted", "Muted"), ("coaching", "Coaching"),
                        ("end_conference_on_exit", "EndConferenceOnExit")):
        value = _bool(name)
        if value is not None:
            changes[field] = value
    for field, name in (("hold_url", "HoldUrl"), ("call_sid_to_coach", "CallSidToCoach"),
                        ("announce_url", "AnnounceUrl")):
        if form.get(name):
            changes[field] = form[name]
    if form.get("HoldMethod"):
        changes["hold_method"] = _method("HoldMethod", "GET")
    if form.get("AnnounceMethod"):
        changes["announce_method"] = _method("AnnounceMethod")
    participant = carrier().update_participant(conference.sid, call_sid, changes)
    return jsonify(participant_json(participant))


@bp.delete(f"{ACCOUNT}/Conferences/<conference_sid>/Participants/<call_sid>.json")
@authenticated
def delete_participant(account_sid: str, conference_sid: str, call_sid: str) -> tuple[str, int]:
    conference = _conference(conference_sid)
    carrier().remove_participant(conference.sid, call_sid)
    return "", 204


# ---- call recordings (start, pause, resume, stop) ------------------------------------------------------------


def call_recording_json(recording: Recording) -> dict[str, Any]:
    sim = carrier()
    return {
        "account_sid": sim.account_sid,
        "api_version": API_VERSION,
        "call_sid": recording.call_sid,
        "conference_sid": None,
        "date_created": _date(recording.date_created),
        "date_updated": _date(recording.date_updated),
        "start_time": _date(recording.date_created),
        "duration": str(recording.duration) if recording.status == "completed" else "-1",
        "sid": recording.sid,
        "price": None,
        "uri": f"/{API_VERSION}/Accounts/{sim.account_sid}/Calls/{recording.call_sid}/Recordings/"
               f"{recording.sid}.json",
        "encryption_details": None,
        "price_unit": "USD",
        "status": recording.status,
        "channels": 1,
        "source": recording.source,
        "error_code": None,
        "track": "both",
    }


@bp.post(f"{ACCOUNT}/Calls/<call_sid>/Recordings.json")
@authenticated
def create_call_recording(account_sid: str, call_sid: str) -> tuple[Response, int]:
    _call(call_sid)
    recording = carrier().start_call_recording(
        call_sid, status_callback=request.form.get("RecordingStatusCallback") or None,
        status_callback_method=_method("RecordingStatusCallbackMethod"),
        status_callback_events=_events("RecordingStatusCallbackEvent") or None)
    return jsonify(call_recording_json(recording)), 201


@bp.get(f"{ACCOUNT}/Calls/<call_sid>/Recordings.json")
@authenticated
def list_call_recordings(account_sid: str, call_sid: str) -> Response:
    _call(call_sid)
    with carrier().cond:
        found = [r for r in carrier().recordings.values() if r.call_sid == call_sid]
    return _page("recordings", [call_recording_json(r) for r in found])


@bp.get(f"{ACCOUNT}/Calls/<call_sid>/Recordings/<recording_sid>.json")
@authenticated
def fetch_call_recording(account_sid: str, call_sid: str, recording_sid: str) -> Response:
    return jsonify(call_recording_json(carrier().call_recording(call_sid, recording_sid)))


@bp.post(f"{ACCOUNT}/Calls/<call_sid>/Recordings/<recording_sid>.json")
@authenticated
def update_call_recording(account_sid: str, call_sid: str, recording_sid: str) -> Response:
    status = request.form.get("Status")
    if not status:
        raise CarrierRestError(400, 21600, "Status is required")
    return jsonify(call_recording_json(carrier().update_call_recording(call_sid, recording_sid, status)))


# ---- recordings (media only: what RecordingUrl points at) ---------------------------------------------------


@bp.get(f"{ACCOUNT}/Recordings/<recording_sid>")
def recording_media(account_sid: str, recording_sid: str) -> Response:
    """A silent WAV as long as the recording; public like Twilio's media URLs by default."""
    sid = recording_sid.rsplit(".", 1)[0]
    with carrier().cond:
        recording = carrier().recordings.get(sid)
    if recording is None or account_sid != carrier().account_sid:
        return error(404, 20404, f"The requested resource {request.path} was not found")
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(1)
        wav.setframerate(8000)
        wav.writeframes(b"\x80" * 8000 * min(recording.duration, MAX_RECORDING_SECONDS))
    return Response(buffer.getvalue(), mimetype="audio/wav")


# ---- messages (SMS) ------------------------------------------------------------------------------------------


def message_json(message: SimMessage) -> dict[str, Any]:
    base = f"/{API_VERSION}/Accounts/{message.account_sid}/Messages/{message.sid}"
    return {
        "account_sid": message.account_sid,
        "api_version": API_VERSION,
        "body": message.body,
        "date_created": _date(message.date_created),
        "date_sent": _date(message.date_sent),
        "date_updated": _date(message.date_updated),
        "direction": "outbound-api",
        "error_code": None,
        "error_message": None,
        "from": message.from_,
        "messaging_service_sid": None,
        "num_media": "0",
        "num_segments": str(message.segments),
        "price": None,
        "price_unit": "USD",
        "sid": message.sid,
        "status": message.status,
        "subresource_uris": {"media": f"{base}/Media.json", "feedback": f"{base}/Feedback.json"},
        "to": message.to,
        "uri": f"{base}.json",
    }


@bp.post(f"{ACCOUNT}/Messages.json")
@authenticated
def create_message(account_sid: str) -> tuple[Response, int]:
    form = request.form
    message = messaging.send(carrier(), to=form.get("To", ""), from_=form.get("From", ""),
                             body=form.get("Body", ""), status_callback=form.get("StatusCallback") or None)
    body = jsonify(message_json(message))  # answered as created (queued), as Twilio does
    messaging.deliver(carrier(), message)
    return body, 201


@bp.get(f"{ACCOUNT}/Messages.json")
@authenticated
def list_messages(account_sid: str) -> Response:
    sim = carrier()
    to, from_ = request.args.get("To"), request.args.get("From")
    with sim.cond:
        messages = [m for m in sim.messages.values()
                    if (to is None or m.to == to) and (from_ is None or m.from_ == from_)]
    messages.sort(key=lambda m: m.date_created, reverse=True)
    return _page("messages", [message_json(m) for m in messages])


@bp.get(f"{ACCOUNT}/Messages/<message_sid>.json")
@authenticated
def fetch_message(account_sid: str, message_sid: str) -> Response:
    with carrier().cond:
        message = carrier().messages.get(message_sid)
    if message is None:
        raise CarrierRestError(404, 20404, f"The requested resource {request.path} was not found")
    return jsonify(message_json(message))
