"""One error format for everything under /api/v1: {"message", "field", "status", "errors"}.

Domain errors, request-parsing errors (webargs/marshmallow), HTTP errors (404, 405, CSRF, ...) and crashes are
all rendered here, so a client handles exactly one shape.
"""

from __future__ import annotations

import logging
from typing import Any

import marshmallow as ma
from flask import Blueprint, Flask, Response, current_app, jsonify, request
from werkzeug.exceptions import HTTPException, InternalServerError

from callcenter.services.errors import DomainError, TooManyAttempts

log = logging.getLogger(__name__)

API_PREFIX = "/api/v1"


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
        return error_response(status, "The request is not valid", headers=headers)
    first_field, first_messages = next(iter(by_field.items()))
    text = first_messages[0] if first_messages else "Invalid value."
    if first_field == "_schema":
        if text == "Invalid input type.":
            text = "The body must be a JSON object."
        return error_response(status, text, None, by_field, headers)
    return error_response(status, f"{first_field}: {text}", first_field, by_field, headers)


def handle_domain_error(error: DomainError) -> Response:
    """The one mapping from domain errors to HTTP: their own status, message and field."""
    headers = {"Retry-After": str(error.retry_after)} if isinstance(error, TooManyAttempts) else None
    errors = {error.field: [error.message]} if error.field else None
    return error_response(error.status, error.message, error.field, errors, headers)


def handle_http_error(error: HTTPException) -> Response:
    """HTTP errors raised inside an API view (webargs' abort, CSRF, 404, 405, 500) as JSON."""
    code = error.code or 500
    data = getattr(error, "data", None) or {}
    headers = dict(data.get("headers") or {})
    if code == 405 and getattr(error, "valid_methods", None):
        headers["Allow"] = ", ".join(error.valid_methods)
    messages = data.get("messages")
    if code == 400 and messages == {"json": ["Invalid JSON body."]}:
        return error_response(400, "The body is not valid JSON", headers=headers)
    if code == 413:
        limit = current_app.config.get("MAX_CONTENT_LENGTH")
        return error_response(413, f"The request body is larger than the limit of {limit} bytes", headers=headers)
    if isinstance(messages, dict) and code == 422:
        return _validation_error(code, messages, headers)
    if isinstance(error, InternalServerError):
        original = getattr(error, "original_exception", None)
        if original is not None:
            log.error("unhandled error in %s %s", request.method, request.path, exc_info=original)
        return error_response(500, "Internal server error; it has been logged", headers=headers)
    return error_response(code, data.get("message") or error.description or error.name, headers=headers)


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
