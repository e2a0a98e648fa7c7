"""Telephony: one provider interface; Twilio in production, the embedded carrier emulator elsewhere.

Both modes use `TwilioProvider` on the real SDK: in emulator mode it is pointed at `{PUBLIC_BASE_URL}/sim` (or
SIM_REST_URL, an emulator in another process), where the emulator answers Twilio's REST paths, with the emulator's
account SID and auth token.
"""

from __future__ import annotations

import hashlib
import importlib
import logging
from typing import Any

from flask import Flask, current_app

from callcenter.settings import SettingsError, public_host
from callcenter.telephony.base import (
    CallInfo,
    ConferenceInfo,
    MessageInfo,
    ParticipantInfo,
    Provider,
    TelephonyError,
)
from callcenter.telephony.twilio_provider import TwilioProvider

__all__ = [
    "CallInfo",
    "ConferenceInfo",
    "MessageInfo",
    "ParticipantInfo",
    "Provider",
    "TelephonyError",
    "TwilioProvider",
    "get_provider",
    "init_app",
]

log = logging.getLogger(__name__)

EXTENSION_KEY = "callcenter.telephony"
PROVIDER_MODES = ("auto", "twilio", "sim")
# The emulator accepts tokens signed with its auth token under this key SID (Twilio would need a real API key).
SIM_API_KEY_SID = "SK" + "0" * 32
SIM_TWIML_APP_SID = "AP" + "0" * 32


def derived_sim_auth_token(secret_key: str) -> str:
    """A stable emulator auth token per installation, so signatures survive restarts without another secret."""
    return hashlib.sha256(("sim:" + secret_key).encode()).hexdigest()[:32]


def production_signs(config: dict[str, Any]) -> list[str]:
    """What says this is not a one-machine demo: an external database or Redis, or a host others can reach."""
    signs = []
    if not str(config.get("DATABASE_URL") or "sqlite").startswith("sqlite"):
        signs.append("DATABASE_URL names an external database")
    redis_url = str(config.get("REDIS_URL") or "")
    if redis_url and not redis_url.startswith("unix://"):
        signs.append("REDIS_URL names an external Redis")
    exposed = public_host(config)
    if exposed:
        signs.append(exposed)
    return signs


def provider_mode(config: dict[str, Any]) -> str:
    """'twilio' or 'sim' from TELEPHONY_PROVIDER ('auto': Twilio when its account SID and token are set).

    'auto' falls back to the emulator only for a one-machine demo: a production setup that merely forgot its
    Twilio settings must not come up with an emulated carrier (and its open caller page) instead."""
    mode = (config.get("TELEPHONY_PROVIDER") or "auto").strip().lower()
    if mode not in PROVIDER_MODES:
        raise SettingsError(f"TELEPHONY_PROVIDER={mode!r} is not one of {', '.join(PROVIDER_MODES)}")
    has_twilio = bool(config.get("TWILIO_ACCOUNT_SID") and config.get("TWILIO_AUTH_TOKEN"))
    if mode == "auto":
        if has_twilio:
            return "twilio"
        signs = production_signs(config)
        if signs:
            raise SettingsError(
                "No Twilio account is configured, so the carrier emulator would answer calls, but this does not "
                f"look like a one-machine demo ({'; '.join(signs)}). Set TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN, "
                "or TELEPHONY_PROVIDER=sim to run the emulator on purpose.")
        return "sim"
    if mode == "twilio" and not has_twilio:
        raise SettingsError("TELEPHONY_PROVIDER=twilio needs TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN")
    return mode


def init_app(app: Flask) -> None:
    """Choose the provider, start the emulator when it is the carrier, and bind the provider to the app."""
    if app.config.get("SIM_AUTH_TOKEN") is None:
        app.config["SIM_AUTH_TOKEN"] = derived_sim_auth_token(app.config["SECRET_KEY"])
    mode = provider_mode(app.config)
    provider = _twilio_provider(app) if mode == "twilio" else _sim_provider(app)
    app.extensions[EXTENSION_KEY] = provider
    log.info("telephony provider: %s (account %s)", provider.name, provider.account_sid)


def get_provider(app: Flask | None = None) -> Provider:
    """The provider bound to `app` (default: the current app)."""
    target = app or current_app
    try:
        return target.extensions[EXTENSION_KEY]
    except KeyError:
        raise RuntimeError("telephony.init_app() was not called for this app") from None


def _twilio_provider(app: Flask) -> TwilioProvider:
    config = app.config
    if not (config.get("TWILIO_API_KEY") and config.get("TWILIO_API_SECRET")):
        log.warning("TWILIO_API_KEY/TWILIO_API_SECRET are not set: agents' browser softphones cannot get tokens")
    return TwilioProvider(
        account_sid=config["TWILIO_ACCOUNT_SID"],
        auth_token=config["TWILIO_AUTH_TOKEN"],
        api_key=config.get("TWILIO_API_KEY"),
        api_secret=config.get("TWILIO_API_SECRET"),
        twiml_app_sid=config.get("TWILIO_TWIML_APP_SID"),
        name="twilio",
    )


def _sim_provider(app: Flask) -> TwilioProvider:
    """The SDK pointed at the emulator: in-process (SIM_TRANSPORT=wsgi) or over HTTP to our own server."""
    try:
        sim = importlib.import_module("callcenter.telephony.sim")
    except ImportError as exc:
        if exc.name and exc.name.startswith("callcenter.telephony.sim"):
            raise ImportError(
                "The embedded carrier emulator (callcenter.telephony.sim) is not available. Configure Twilio "
                "(TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN) or install a build that includes the emulator."
            ) from exc
        raise
    sim.init_app(app)
    http_client = None
    if app.config.get("SIM_TRANSPORT") == "wsgi":
        from callcenter.telephony.sim.wsgi_http import WsgiHttpClient

        http_client = WsgiHttpClient(app)
    token = app.config["SIM_AUTH_TOKEN"]
    return TwilioProvider(
        account_sid=app.config["SIM_ACCOUNT_SID"],
        auth_token=token,
        api_key=SIM_API_KEY_SID,
        api_secret=token,
        twiml_app_sid=app.config.get("TWILIO_TWIML_APP_SID") or SIM_TWIML_APP_SID,
        http_client=http_client,
        base_url=(app.config.get("SIM_REST_URL") or app.config["PUBLIC_BASE_URL"].rstrip("/") + "/sim").rstrip("/"),
        name="sim",
    )
