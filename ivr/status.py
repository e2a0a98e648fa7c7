"""POST /ivr/status: call progress callbacks (repeated and out of order in real life) complete the CDR."""

from __future__ import annotations

import json
import logging
import re
import uuid
from datetime import datetime

from flask import Response, current_app, request
from sqlalchemy.exc import OperationalError

from callcenter.extensions import db
from callcenter.jobs import enqueue
from callcenter.models.base import utcnow
from callcenter.redis_conn import get_redis
from callcenter.services import callbacks, caller_steps, calls, recordings
from callcenter.services.jobs import Deferred
from ivr import bp
from ivr.guard import fail_safe, twilio_signed
from ivr.params import whole_number

log = logging.getLogger(__name__)

REPLAY_JOB = "workers.calls.apply_status_callback"
RECORDING_REPLAY_JOB = "workers.calls.apply_recording_status"


def _no_content() -> Response:
    return Response(status=204)


@bp.post("/status")
@fail_safe(_no_content)
@twilio_signed
def status() -> Response:
    """Append the callback to the call's event log; when the caller's leg ends, release it from the ACD.

    "Ended" is this callback's own status: the call record is derived later, by a job; a terminal status is
    final whatever else arrives, so repeats and late callbacks find the call already out of the ACD (a no-op).
    A database that is locked or unreachable past the webhook's wait budget does not lose the callback (the
    carrier never sends it again): it is handed to a job, retried until the database answers.
    """
    received_at = utcnow()
    try:
        call = calls.apply_status_callback(db.session, request.form, received_at=received_at)
        attempt_id = whole_number(request.args.get("callback_attempt"))
        if attempt_id is not None:  # a callback's customer leg: linked even if the run that dialled it died
            callbacks.leg_reported(db.session, get_redis(), attempt_id, call.call_sid)
        if calls.normalise_status(request.form.get("CallStatus")) in calls.TERMINAL_STATUSES:
            caller_steps.call_ended(db.session, get_redis(), call.call_sid, call=call)
    except OperationalError as exc:
        _apply_in_a_job(REPLAY_JOB, "status-replay", "CallSid", received_at, exc)
    return _no_content()


@bp.post("/recording/status")
@fail_safe(_no_content)
@twilio_signed
def recording_status() -> Response:
    """A recording status callback: keep the recording's status, duration and media URL (once, in any order).
    Like /ivr/status, it is handed to a job when the database cannot take it now: the carrier never sends it
    again, and without it the recording would stay "in-progress" with no media."""
    received_at = utcnow()
    try:
        recordings.apply_status_callback(db.session, request.form, now=received_at)
    except OperationalError as exc:
        _apply_in_a_job(RECORDING_REPLAY_JOB, "recording-replay", "RecordingSid", received_at, exc)
    return _no_content()


def _apply_in_a_job(job: str, key_prefix: str, sid_param: str, received_at: datetime,
                    error: OperationalError) -> None:
    """The database was locked or unreachable past the webhook's wait budget: `job` applies this callback later,
    retried until the database answers (keyed by the delivery, so a job enqueued twice runs once)."""
    db.session.rollback()
    log.warning("%s %s: database busy (%s); applying it in a job", request.path, request.form.get(sid_param),
                str(error.orig).splitlines()[0] if error.orig else error)
    # RQ job ids take letters, digits, '_' and '-' only; the carrier's idempotency token names this delivery.
    token = re.sub(r"[^A-Za-z0-9_-]", "", request.headers.get("I-Twilio-Idempotency-Token", "")) or uuid.uuid4().hex
    sid = re.sub(r"[^A-Za-z0-9]", "", request.form.get(sid_param, ""))
    enqueue(current_app, [Deferred(job, (json.dumps(request.form.to_dict()), received_at.isoformat()),
                                   key=f"{key_prefix}-{sid}-{token}")])
