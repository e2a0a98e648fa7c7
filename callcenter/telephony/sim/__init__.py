"""The embedded carrier emulator: a faithful stand-in for Twilio Programmable Voice.

`init_app(app)` builds one `Carrier` per app (in `app.extensions["sim.carrier"]`), mounts Twilio's REST API
under `/sim`, the caller page at `/sim/caller`, the shim's static files under `/sim/static`, and the Socket.IO
namespace `/sim`. No thread starts here: each call starts its own.
"""

from __future__ import annotations

import hashlib

from flask import Blueprint, Flask, current_app, jsonify, render_template, request
from flask.typing import ResponseReturnValue

from callcenter.extensions import csrf, socketio
from callcenter.telephony.sim.engine import Carrier, CarrierError, CarrierRestError, PhoneNumber, WebhookRecord
from callcenter.telephony.sim.faults import Faults
from callcenter.telephony.sim.phone import CallHandle, CallTimeout, ClientEndpoint, PhoneEndpoint
from callcenter.telephony.sim.transport import HttpTransport, WsgiTransport
from callcenter.telephony.sim.twiml import TwimlError

__all__ = [
    "CallHandle",
    "CallTimeout",
    "Carrier",
    "CarrierError",
    "CarrierRestError",
    "ClientEndpoint",
    "Faults",
    "HttpTransport",
    "PhoneEndpoint",
    "PhoneNumber",
    "TwimlError",
    "WebhookRecord",
    "WsgiTransport",
    "get_carrier",
    "init_app",
]

EXTENSION_KEY = "sim.carrier"
DEFAULT_TWIML_APP_SID = "AP" + "0" * 32

pages = Blueprint("sim_pages", __name__, template_folder="templates", static_folder="static",
                  static_url_path="/static")


@pages.get("/caller")
def caller_page() -> ResponseReturnValue:
    """A phone on the public network: dial a number, read and hear the prompts, press keys.

    Open to anyone only while the server is reachable from this machine alone (the demo); else sign in first."""
    from callcenter.extensions import login_manager
    from callcenter.telephony.sim.realtime import caller_page_open

    if not caller_page_open():
        return login_manager.unauthorized()
    carrier = get_carrier()
    return render_template("sim/caller.html", numbers=sorted(carrier.numbers))


@pages.get("/texts")
def texts() -> ResponseReturnValue:
    """The texts the carrier delivered to `?to=` (the caller page's number), newest first; open as the caller page."""
    from callcenter.extensions import login_manager
    from callcenter.telephony.sim.messaging import received_by
    from callcenter.telephony.sim.realtime import caller_page_open

    if not caller_page_open():
        return login_manager.unauthorized()
    number = (request.args.get("to") or "").strip()
    found = received_by(get_carrier(), number) if number else []
    return jsonify({"messages": [{"sid": m.sid, "from": m.from_, "to": m.to, "body": m.body, "status": m.status,
                                  "date_created": m.date_created.isoformat()} for m in reversed(found)]})


def init_app(app: Flask) -> Carrier:
    """Create the app's carrier from SIM_* settings and mount its REST API, pages and socket namespace."""
    from callcenter.telephony.sim import rest
    from callcenter.telephony.sim.realtime import SimNamespace

    config = app.config
    if config.get("SIM_AUTH_TOKEN") is None:
        config["SIM_AUTH_TOKEN"] = hashlib.sha256(str(config["SECRET_KEY"]).encode()).hexdigest()[:32]
    base_url = str(config["PUBLIC_BASE_URL"]).rstrip("/")
    transport = WsgiTransport(app) if config.get("SIM_TRANSPORT") == "wsgi" else HttpTransport()
    carrier = Carrier(
        account_sid=config["SIM_ACCOUNT_SID"],
        auth_token=config["SIM_AUTH_TOKEN"],
        transport=transport,
        base_url=base_url,
        speed=float(config.get("SIM_SPEED") or 1),
        client_voice_url=config.get("SIM_CLIENT_VOICE_URL") or f"{base_url}/ivr/client",
        twiml_app_sid=config.get("TWILIO_TWIML_APP_SID") or DEFAULT_TWIML_APP_SID,
    )
    for number in config.get("SIM_PHONE_NUMBERS") or []:
        if number:
            carrier.add_number(number, f"{base_url}/ivr/voice", status_callback=f"{base_url}/ivr/status")
    app.extensions[EXTENSION_KEY] = carrier
    csrf.exempt(rest.bp)
    app.register_blueprint(rest.bp, url_prefix="/sim")
    app.register_blueprint(pages, url_prefix="/sim")
    socketio.on_namespace(SimNamespace("/sim"))
    return carrier


def get_carrier(app: Flask | None = None) -> Carrier:
    """The carrier of `app` (default: the current app)."""
    target = app or current_app
    try:
        return target.extensions[EXTENSION_KEY]
    except KeyError:
        raise RuntimeError("the carrier emulator is not enabled in this app (TELEPHONY_PROVIDER=sim)") from None
