"""The application factory: the only place an app is built and extensions are bound."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import socketio as socketio_server
from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from callcenter import background, i18n, redis_conn
from callcenter.extensions import csrf, db, login_manager, socketio
from callcenter.settings import load_settings


def create_app(test_config: dict[str, Any] | None = None) -> Flask:
    """Build the app from the environment; `test_config` overrides any setting."""
    instance_path = Path((test_config or {}).get("INSTANCE_PATH") or load_instance_path())
    app = Flask(__name__, instance_path=str(instance_path.resolve()), instance_relative_config=False)
    app.config.update(load_settings(instance_path))
    if test_config:
        app.config.update(test_config)
    Path(app.config["INSTANCE_PATH"]).mkdir(parents=True, exist_ok=True)
    _limit_request_size(app)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # The twilio SDK logs every REST request with its headers at INFO: ten lines per call placed, on the hot path.
    logging.getLogger("twilio.http_client").setLevel(logging.WARNING)

    if app.config["TRUST_FORWARDED_HEADERS"]:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=1, x_proto=1, x_host=1, x_port=1)  # type: ignore[method-assign]

    db.init_app(app)
    redis_conn.init_app(app)
    csrf.init_app(app)
    login_manager.init_app(app)
    i18n.init_app(app)
    _init_socketio(app)

    from callcenter import api, config_sync, input_guard, jobs, offer_reactions, realtime, telephony, web

    input_guard.init_app(app)
    config_sync.init_app(app)
    jobs.init_app(app)
    telephony.init_app(app)
    realtime.init_app(app)
    offer_reactions.init_app(app)
    web.init_app(app)
    api.init_app(app)
    _init_edges(app)
    # Outermost, around Socket.IO's middleware: a request's side work waits for its response to be sent.
    app.wsgi_app = background.RunAfterResponse(app.wsgi_app)  # type: ignore[method-assign]
    return app


def _limit_request_size(app: Flask) -> None:
    """One body limit for every request (413 past it): Werkzeug refuses a larger declared length before reading,
    and stops a streamed body at the limit. Form fields held in memory get the same bound."""
    limit = int(app.config.get("MAX_REQUEST_BYTES") or 1024 * 1024)
    app.config["MAX_REQUEST_BYTES"] = limit
    app.config["MAX_CONTENT_LENGTH"] = limit
    app.config["MAX_FORM_MEMORY_SIZE"] = limit


def load_instance_path() -> str:
    from callcenter.settings import default_instance_path

    return str(default_instance_path())


def _init_socketio(app: Flask) -> None:
    """Share Socket.IO between web processes through Redis.

    The manager is built here because Flask-SocketIO picks Kombu for `unix://` URLs (the embedded Redis);
    the Redis manager itself handles them. The test client refuses a message queue, so tests turn it off.
    """
    options: dict[str, Any] = {"cors_allowed_origins": [app.config["PUBLIC_BASE_URL"]],
                               "async_mode": app.config["SOCKETIO_ASYNC_MODE"]}
    if app.config["SOCKETIO_MESSAGE_QUEUE"]:
        options["client_manager"] = socketio_server.RedisManager(app.config["REDIS_URL"], channel="callcenter-socketio")
    socketio.init_app(app, **options)


def _init_edges(app: Flask) -> None:
    """Blueprints that live outside the `callcenter` package (top level is fixed by the product card)."""
    import agent_ui
    import ivr

    ivr.init_app(app)
    agent_ui.init_app(app)
