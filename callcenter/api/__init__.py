"""JSON REST API under /api/v1 (flask-smorest); the OpenAPI document is generated from these blueprints."""

from __future__ import annotations

from flask import Flask

from callcenter.extensions import api


def init_app(app: Flask) -> None:
    app.config.setdefault("API_TITLE", "callcenter")
    app.config.setdefault("API_VERSION", "v1")
    app.config.setdefault("OPENAPI_VERSION", "3.0.3")
    app.config.setdefault("OPENAPI_URL_PREFIX", "/api/v1")
    app.config.setdefault("OPENAPI_JSON_PATH", "openapi.json")
    api.init_app(app)
