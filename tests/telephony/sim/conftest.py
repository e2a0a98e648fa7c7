"""Fixtures for the carrier emulator: a tiny TwiML server blueprint, a bare carrier app, a strict carrier."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from flask import Blueprint, Flask, Response, current_app, request
from twilio.request_validator import RequestValidator

from callcenter.telephony.sim import rest
from callcenter.telephony.sim.engine import Carrier
from callcenter.telephony.sim.testing import sim_carrier, strict_carrier
from callcenter.telephony.sim.transport import WsgiTransport

__all__ = ["sim_carrier"]

SPEED = 20.0
ACCOUNT_SID = "AC" + "1" * 32
AUTH_TOKEN = "0123456789abcdef0123456789abcdef"
NUMBER = "+18005550100"
CALLER = "+14155550100"
BASE = "http://localhost"

Reply = str | Callable[[dict[str, str]], str | tuple[str, int] | Response]


@dataclass
class Hit:
    path: str
    method: str
    form: dict[str, str]
    signed: bool


@dataclass
class TwimlServer:
    """Serves TwiML per path (a string or a function of the form fields) and records every request."""

    token: str
    routes: dict[str, Reply] = field(default_factory=dict)
    hits: list[Hit] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def route(self, path: str, reply: Reply) -> str:
        self.routes[path] = reply
        return self.url(path)

    @staticmethod
    def url(path: str) -> str:
        return f"{BASE}/t{path}"

    def requests_to(self, path: str) -> list[Hit]:
        with self.lock:
            return [hit for hit in self.hits if hit.path == path]


twiml_bp = Blueprint("twiml_test", __name__)


@twiml_bp.route("/t/<path:path>", methods=["GET", "POST"])
def serve(path: str) -> Any:
    server: TwimlServer = current_app.extensions["twiml_server"]
    form = request.form.to_dict() if request.method == "POST" else request.args.to_dict()
    signed = RequestValidator(server.token).validate(
        request.url, request.form.to_dict() if request.method == "POST" else {},
        request.headers.get("X-Twilio-Signature", ""))
    with server.lock:
        server.hits.append(Hit("/" + path, request.method, form, signed))
    reply = server.routes.get("/" + path)
    if reply is None:
        return Response("", 204)
    result = reply(form) if callable(reply) else reply
    if isinstance(result, Response):
        return result
    if isinstance(result, tuple):
        body, status = result
        return Response(body, status, mimetype="text/xml")
    return Response(result, mimetype="text/xml")


@dataclass
class Sim:
    app: Flask
    carrier: Carrier
    server: TwimlServer

    def number(self, voice_path: str, status_events: tuple[str, ...] = ("completed",),
               fallback_path: str | None = None) -> str:
        self.carrier.add_number(NUMBER, self.server.url(voice_path), status_callback=self.server.url("/status"),
                                fallback_url=self.server.url(fallback_path) if fallback_path else None,
                                status_callback_events=status_events)
        return NUMBER


def build_sim(speed: float = SPEED) -> Sim:
    """A bare Flask app with the carrier's REST API and the TwiML test server; no database needed."""
    app = Flask("sim_test")
    app.config.update(TESTING=True, SERVER_NAME="localhost")
    server = TwimlServer(AUTH_TOKEN)
    app.extensions["twiml_server"] = server
    app.register_blueprint(twiml_bp)
    carrier = Carrier(account_sid=ACCOUNT_SID, auth_token=AUTH_TOKEN, transport=WsgiTransport(app), base_url=BASE,
                      speed=speed, client_voice_url=server.url("/client"))
    app.extensions["sim.carrier"] = carrier
    app.register_blueprint(rest.bp, url_prefix="/sim")
    return Sim(app, carrier, server)


@pytest.fixture
def sim() -> Iterator[Sim]:
    """A strict emulated carrier on a bare app: the test fails if the carrier recorded errors."""
    built = build_sim()
    with strict_carrier(built.carrier):
        yield built


@pytest.fixture
def app_config(app_config: dict) -> dict:
    """The product app with the emulator in-process and fast."""
    app_config.update({"SIM_TRANSPORT": "wsgi", "SIM_SPEED": SPEED, "TELEPHONY_PROVIDER": "sim"})
    return app_config
