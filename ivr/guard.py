"""The guard around every voice webhook: the signature check, the never-500 guard, and the TwiML response helper."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import quote

from flask import Request, Response, current_app, request
from sqlalchemy.exc import OperationalError
from twilio.request_validator import SIGNATURE_HEADER
from twilio.twiml.voice_response import VoiceResponse
from werkzeug.exceptions import HTTPException

from callcenter import input_guard
from callcenter.db import asynchronous_commit, wait_budget
from callcenter.extensions import db
from callcenter.services.errors import DomainError
from callcenter.telephony import get_provider
from callcenter.telephony.base import WebhookParams
from callcenter.telephony.links import with_query
from ivr import flow_twiml

log = logging.getLogger(__name__)

View = TypeVar("View", bound=Callable[..., Any])
# Characters a path keeps as they are when we re-encode it (RFC 3986 pchar plus '/').
_PATH_SAFE = "/:@!$&'()*+,;=-._~"

# The carrier waits 15 s for a voice webhook, then plays its application error and drops the caller. A statement
# waits for a database lock at most this long on a webhook (SQLite's default elsewhere is 30 s, PostgreSQL's is
# forever), leaving time to answer.
WEBHOOK_DB_WAIT_SECONDS = 3.0
# A caller whose step met a locked database hears this pause and is sent back to the same step, this many times
# at most (about 4 s each), before the step's own fallback.
BUSY_RETRIES = 3
BUSY_PAUSE_SECONDS = 1
BUSY_RETRY_ARG = "busy_retry"
# What a caller said or pressed in the step: the carrier does not send it again on a <Redirect>, so the retry's
# URL carries it (views read request.values).
CALLER_INPUT_FIELDS = ("Digits", "SpeechResult", "Confidence", "RecordingUrl", "RecordingSid",
                       "RecordingDuration", "TranscriptionText")


def public_url(req: Request) -> str:
    """The URL the carrier requested (and signed).

    Behind a TLS proxy `request.url` says http:// and the internal host, so by default it is rebuilt from
    PUBLIC_BASE_URL + path + raw query string. With TRUST_FORWARDED_HEADERS, ProxyFix has already restored the
    public scheme and host in `request.url`.
    """
    if current_app.config.get("TRUST_FORWARDED_HEADERS"):
        return req.url
    base = current_app.config["PUBLIC_BASE_URL"].rstrip("/")
    path = quote(req.path, safe=_PATH_SAFE)
    if req.script_root and not base.endswith(req.script_root):
        path = req.script_root + path
    query = req.query_string.decode("utf-8", "replace")
    return f"{base}{path}?{query}" if query else f"{base}{path}"


def webhook_params(req: Request) -> WebhookParams:
    """Every field the carrier signed: all form fields (repeated ones too), or the raw JSON body."""
    if "bodySHA256" in req.args or req.mimetype == "application/json":
        return req.get_data(as_text=True)
    if req.method == "GET":
        return {}  # the parameters are in the signed URL
    return req.form


FORM = "application/x-www-form-urlencoded"


def refuse_unexpected_body(req: Request) -> Response | None:
    """413 or 415 for a body we would not sign-check, decided from the headers alone (nothing is read).

    Twilio posts url-encoded forms, or JSON whose hash (bodySHA256) is in the signed URL; JSON without it is left
    to fail the signature check (403). The size limit is the app's MAX_CONTENT_LENGTH (MAX_REQUEST_BYTES)."""
    limit = current_app.config.get("MAX_CONTENT_LENGTH")
    if limit and req.content_length is not None and req.content_length > limit:
        return Response(f"Request body too large: {req.content_length} bytes, the limit is {limit}",
                        status=413, mimetype="text/plain")
    if req.method in ("GET", "HEAD"):
        return None
    if req.mimetype in (FORM, "application/json"):
        return None
    if not req.mimetype and not req.content_length and not req.headers.get("Transfer-Encoding"):
        return None  # no body at all
    return Response(f"Unsupported content type {req.mimetype or '(none)'!r}: webhooks are {FORM}, or "
                    "application/json with bodySHA256 in the signed URL", status=415, mimetype="text/plain")


def twilio_signed(view: View) -> View:
    """Run the view only for requests carrying a valid X-Twilio-Signature; else 403 and no side effect.

    The body is parsed only when its type and size are what the carrier sends (413/415 otherwise), since the
    signature covers its fields and cannot be checked without reading them."""

    @functools.wraps(view)
    def guarded(*args: Any, **kwargs: Any) -> Any:
        refused = refuse_unexpected_body(request)
        if refused is not None:
            log.warning("refused %s webhook for %s: %s", request.method, request.path, refused.get_data(as_text=True))
            return refused
        signature = request.headers.get(SIGNATURE_HEADER, "")
        url = public_url(request)
        if not get_provider().validate_webhook(url, webhook_params(request), signature):
            log.warning("rejected %s webhook for %s: %s signature", request.method, url,
                        "invalid" if signature else "missing")
            return Response("Invalid signature", status=403, mimetype="text/plain")
        problem = input_guard.request_problem(request)
        if problem is not None:  # signed, yet nothing a carrier sends: refused before anything is written
            log.warning("refused signed %s webhook for %s: %s %s", request.method, url, *problem)
            return input_guard.refusal(*problem)
        return view(*args, **kwargs)

    return guarded  # type: ignore[return-value]


def fail_safe(fallback: Callable[[], Response], *, caller_on_line: bool = False) -> Callable[[View], View]:
    """Never answer the carrier with a 500 nor after its timeout: domain errors become a 4xx with the message,
    anything unexpected (database or Redis down, a bug) is logged and answered with `fallback()` so the caller
    hears something. No statement waits more than WEBHOOK_DB_WAIT_SECONDS for a database lock, and on PostgreSQL
    no commit waits for the disk unless WEBHOOK_SYNCHRONOUS_COMMIT (db.asynchronous_commit).

    `caller_on_line`: the request is a step of a live call (it answers TwiML), so a domain error is answered with
    the fallback too: a 4xx would make the carrier play its application error and drop the caller; and a
    database that is locked or unreachable holds the caller a moment and retries the step (BUSY_RETRIES times)."""

    def decorate(view: View) -> View:
        @functools.wraps(view)
        def guarded(*args: Any, **kwargs: Any) -> Any:
            try:
                with wait_budget(WEBHOOK_DB_WAIT_SECONDS), \
                        asynchronous_commit(not current_app.config["WEBHOOK_SYNCHRONOUS_COMMIT"]):
                    return view(*args, **kwargs)
            except HTTPException:
                raise
            except DomainError as exc:
                _discard_session()
                if caller_on_line:
                    log.warning("webhook %s %s: %s; answering with the fallback", request.method, request.path,
                                exc.message)
                    return fallback()
                return Response(exc.message, status=exc.status, mimetype="text/plain")
            except OperationalError as exc:
                _discard_session()
                retry = _busy_retry_url() if caller_on_line else None
                if retry is not None:
                    log.warning("webhook %s %s: database busy (%s); holding the caller and retrying",
                                request.method, request.path, str(exc.orig).splitlines()[0] if exc.orig else exc)
                    return twiml_response(flow_twiml.hold_and_retry(retry, BUSY_PAUSE_SECONDS))
                log.exception("webhook %s %s failed; answering with the fallback", request.method, request.path)
                return fallback()
            except Exception:
                log.exception("webhook %s %s failed; answering with the fallback", request.method, request.path)
                _discard_session()
                return fallback()

        return guarded  # type: ignore[return-value]

    return decorate


def _busy_retry_url() -> str | None:
    """The URL that asks for this step again (with what the caller pressed or said), or None once the step was
    retried BUSY_RETRIES times."""
    done = request.args.get(BUSY_RETRY_ARG, "0")
    attempt = int(done) + 1 if done.isdigit() else BUSY_RETRIES + 1
    if attempt > BUSY_RETRIES:
        return None
    carried = {name: request.form[name] for name in CALLER_INPUT_FIELDS if request.form.get(name)}
    return with_query(public_url(request), **carried, **{BUSY_RETRY_ARG: attempt})


def twiml_response(twiml: VoiceResponse, status: int = 200) -> Response:
    """A VoiceResponse as the text/xml document the carrier expects."""
    return xml_response(twiml.to_xml(), status)


def xml_response(document: str, status: int = 200) -> Response:
    """A TwiML document already built (VoiceResponse.to_xml) as the carrier's text/xml answer."""
    return Response(document, status=status, mimetype="text/xml")


def _discard_session() -> None:
    """Roll back whatever the failed handler left in the session (the connection may be gone: ignore that)."""
    try:
        db.session.rollback()
    except Exception:
        log.debug("rollback after a failed webhook also failed", exc_info=True)
