"""JSON REST API under /api/v1 (flask-smorest); the OpenAPI document is generated from these blueprints.

Served at /api/v1/openapi.json. A new resource is a module with a `blp = resource_blueprint(...)`
(callcenter/api/base.py) added to `_resource_blueprints` below.
"""

from __future__ import annotations

from flask import Flask
from flask_smorest import Blueprint

from callcenter.api import errors
from callcenter.api.auth import SECURITY_REQUIREMENT, SECURITY_SCHEMES
from callcenter.api.errors import ErrorSchema
from callcenter.extensions import api, csrf


def _resource_blueprints() -> list[Blueprint]:
    from callcenter.api import (
        accounts,
        agent,
        articles,
        auth,
        call_contacts,
        callbacks,
        calls,
        campaigns,
        contacts,
        do_not_call,
        preview,
        queues,
        recordings,
        reports,
        service_agreements,
        supervision,
        tickets,
        timeline,
        tokens,
        trace,
        users,
        webhooks,
    )

    return [auth.blp, contacts.blp, accounts.blp, users.blp, tokens.blp, agent.blp, calls.blp, supervision.blp,
            timeline.blp, do_not_call.blp, webhooks.blp, campaigns.blp, campaigns.imports_blp, articles.blp,
            tickets.blp, service_agreements.blp, preview.blp, queues.blp, call_contacts.blp,
            call_contacts.segments_blp, trace.blp, callbacks.blp, reports.blp, recordings.blp]


def init_app(app: Flask) -> None:
    app.config.setdefault("API_TITLE", "callcenter")
    app.config.setdefault("API_VERSION", "v1")
    app.config.setdefault("OPENAPI_VERSION", "3.0.3")
    app.config.setdefault("OPENAPI_URL_PREFIX", "/api/v1")
    app.config.setdefault("OPENAPI_JSON_PATH", "openapi.json")
    app.config.setdefault(
        "API_SPEC_OPTIONS",
        {
            "security": SECURITY_REQUIREMENT,
            "info": {
                "description": "Authenticate with a session cookie (sign in at /login; writes need the "
                "X-CSRFToken header from GET /api/v1/csrf-token) or with `Authorization: Bearer <token>` "
                "(tokens are issued by an admin). Every error is JSON: "
                '`{"message", "field", "status", "errors"}`. Lists are paged in the body: '
                "`{items, total, page, per_page}` with `page` from 1 and `per_page` up to 100."
            },
        },
    )
    # Documents the error body of every operation ("default" response) as our one error shape.
    api.ERROR_SCHEMA = ErrorSchema
    api.init_app(app)
    for name, scheme in SECURITY_SCHEMES.items():
        api.spec.components.security_scheme(name, scheme)
    errors.init_app(app)  # after api.init_app: replaces flask-smorest's app-wide JSON handler
    for blueprint in _resource_blueprints():
        csrf.exempt(blueprint)  # cookie sessions are checked in callcenter.api.auth, bearer tokens need none
        api.register_blueprint(blueprint)
