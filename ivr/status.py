"""POST /ivr/status: call progress callbacks (repeated and out of order in real life) complete the CDR."""

from __future__ import annotations

from flask import Response, request

from callcenter.extensions import db
from callcenter.models.base import utcnow
from callcenter.redis_conn import get_redis
from callcenter.services import caller_steps, calls
from ivr import bp
from ivr.guard import fail_safe, twilio_signed


def _no_content() -> Response:
    return Response(status=204)


@bp.post("/status")
@fail_safe(_no_content)
@twilio_signed
def status() -> Response:
    """Append the callback to the call's event log; when the caller's leg ends, release it from the ACD.

    "Ended" is this callback's own status: the call record is derived later, by a job; a terminal status is
    final whatever else arrives, so repeats and late callbacks find the call already out of the ACD (a no-op).
    """
    call = calls.apply_status_callback(db.session, request.form, received_at=utcnow())
    if calls.normalise_status(request.form.get("CallStatus")) in calls.TERMINAL_STATUSES:
        caller_steps.call_ended(db.session, get_redis(), call.call_sid)
    return _no_content()
