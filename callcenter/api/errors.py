"""One error format for everything under /api/v1: {"message", "field", "status", "errors"}.

Domain errors, request-parsing errors (webargs/marshmallow), HTTP errors (404, 405, CSRF, ...) and crashes are
all rendered here, so a client handles exactly one shape.
"""

from __future__ import annotations

import logging
from typing import Any

import marshmallow as ma
from flask import Blueprint, Flask, Response, current_app, jsonify, request
from flask_babel import gettext as _
from werkzeug.exceptions import HTTPException, InternalServerError

from callcenter.i18n import translate
from callcenter.services.errors import DomainError, TooManyAttempts
from callcenter.services.messages import t as N_

log = logging.getLogger(__name__)

API_PREFIX = "/api/v1"

# marshmallow's and webargs' own messages, listed so they are extracted into the catalogue and shown translated.
LIBRARY_MESSAGES = (
    N_("Missing data for required field."), N_("Field may not be null."), N_("Not a valid string."),
    N_("Not a valid integer."), N_("Not a valid number."), N_("Not a valid boolean."), N_("Not a valid datetime."),
    N_("Not a valid date."), N_("Not a valid email address."), N_("Not a valid list."), N_("Not a valid mapping type."),
    N_("Unknown field."), N_("Invalid value."), N_("Invalid input type."), N_("Must be one of: %(choices)s."),
    N_("Length must be between %(min)s and %(max)s."), N_("Shorter than minimum length %(min)s."),
    N_("Longer than maximum length %(max)s."), N_("Must be greater than or equal to %(min)s."),
    N_("Must be less than or equal to %(max)s."),
    N_("The CSRF token is missing."), N_("The CSRF session token is missing."), N_("The CSRF token has expired."),
    N_("The CSRF token is invalid."), N_("The CSRF tokens do not match."),
)


class ErrorSchema(ma.Schema):
    """The body of every 4xx/5xx answer under /api/v1."""

    message = ma.fields.String(required=True, metadata={"description": "What went wrong, for people"})
    field = ma.fields.String(
        allow_none=True,
        required=True,
        metadata={"description": "The input at fault, as a dotted path (`phones.0.number`), or null"},
    )
    status = ma.fields.Integer(required=True, metadata={"description": "The HTTP status, repeated"})
    errors = ma.fields.Dict(
        keys=ma.fields.String(),
        values=ma.fields.List(ma.fields.String()),
        metadata={"description": "Every field at fault (dotted path) with its messages; may be empty"},
    )


def error_response(
    status: int,
    message: str,
    field: str | None = None,
    errors: dict[str, list[str]] | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    """Render the one API error shape."""
    response = jsonify({"message": message, "field": field, "status": status, "errors": errors or {}})
    response.status_code = status
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def flatten_messages(messages: Any, prefix: str = "") -> dict[str, list[str]]:
    """Turn marshmallow's nested error dict into {"phones.0.number": [...]}; `_schema` errors keep their key."""
    if isinstance(messages, dict):
        flat: dict[str, list[str]] = {}
        for key, value in messages.items():
            path = f"{prefix}.{key}" if prefix else str(key)
            flat.update(flatten_messages(value, path))
        return flat
    if isinstance(messages, list | tuple):
        if all(isinstance(item, str) for item in messages):
            return {prefix or "_schema": [str(item) for item in messages]}
        flat = {}
        for index, item in enumerate(messages):
            flat.update(flatten_messages(item, f"{prefix}.{index}" if prefix else str(index)))
        return flat
    return {prefix or "_schema": [str(messages)]}


def _validation_error(status: int, messages: dict[str, Any], headers: dict[str, str] | None) -> Response:
    """webargs nests errors under the location ("json", "query", "path"); the field path is what clients need."""
    by_field: dict[str, list[str]] = {}
    for location_errors in messages.values():
        by_field.update(flatten_messages(location_errors))
    if not by_field:
        return error_response(status, _("The request is not valid"), headers=headers)
    by_field = {field: [translate(text) for text in texts] for field, texts in by_field.items()}
    first_field, first_messages = next(iter(by_field.items()))
    text = first_messages[0] if first_messages else _("Invalid value.")
    if first_field == "_schema":
        if text == _("Invalid input type."):
            text = _("The body must be a JSON object.")
        return error_response(status, text, None, by_field, headers)
    return error_response(status, f"{first_field}: {text}", first_field, by_field, headers)


def handle_domain_error(error: DomainError) -> Response:
    """The one mapping from domain errors to HTTP: their own status, message and field."""
    headers = {"Retry-After": str(error.retry_after)} if isinstance(error, TooManyAttempts) else None
    message = translate(error.message)
    errors = {error.field: [message]} if error.field else None
    return error_response(error.status, message, error.field, errors, headers)


def handle_http_error(error: HTTPException) -> Response:
    """HTTP errors raised inside an API view (webargs' abort, CSRF, 404, 405, 500) as JSON."""
    code = error.code or 500
    data = getattr(error, "data", None) or {}
    headers = dict(data.get("headers") or {})
    if code == 405 and getattr(error, "valid_methods", None):
        headers["Allow"] = ", ".join(error.valid_methods)
    messages = data.get("messages")
    if code == 400 and messages == {"json": ["Invalid JSON body."]}:
        return error_response(400, _("The body is not valid JSON"), headers=headers)
    if code == 413:
        limit = current_app.config.get("MAX_CONTENT_LENGTH")
        return error_response(413, _("The request body is larger than the limit of %(limit)s bytes", limit=limit),
                              headers=headers)
    if isinstance(messages, dict) and code == 422:
        return _validation_error(code, messages, headers)
    if isinstance(error, InternalServerError):
        original = getattr(error, "original_exception", None)
        if original is not None:
            log.error("unhandled error in %s %s", request.method, request.path, exc_info=original)
        return error_response(500, _("Internal server error; it has been logged"), headers=headers)
    return error_response(code, translate(data.get("message")) or _http_text(error), headers=headers)


HTTP_TEXTS = {
    400: N_("The request is not valid"), 401: N_("Sign in first"), 403: N_("You may not do this"),
    404: N_("Not found"), 405: N_("This method is not allowed here"), 409: N_("Conflict"),
    415: N_("Unsupported media type"), 429: N_("Too many requests; try again later"),
}


def _http_text(error: HTTPException) -> str:
    """Werkzeug's English descriptions, replaced by a short translated sentence for the common statuses."""
    known = HTTP_TEXTS.get(error.code or 0)
    if known is not None and error.description == type(error).description:
        return translate(known)
    return translate(error.description or error.name)


def install(blueprint: Blueprint) -> None:
    """Attach the handlers to an API blueprint (blueprint handlers win over any app-wide ones)."""
    blueprint.register_error_handler(DomainError, handle_domain_error)
    blueprint.register_error_handler(HTTPException, handle_http_error)


def init_app(app: Flask) -> None:
    """Errors outside any API view (unknown route, wrong method) are JSON under /api/v1, the default elsewhere.

    flask-smorest registers an app-wide handler that turns every HTTP error into JSON, HTML pages included;
    this one replaces it and leaves pages to Flask (or to their own blueprint's handlers).
    """

    def _app_http_error(error: HTTPException) -> Response | HTTPException:
        if request.path == API_PREFIX or request.path.startswith(API_PREFIX + "/"):
            return handle_http_error(error)
        return error

    app.register_error_handler(HTTPException, _app_http_error)
