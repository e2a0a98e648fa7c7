"""Socket.IO namespace `/sim`: the softphone shim (Twilio Device/Call surface) and the caller page talk here.

Agents register with an access token like the real SDK; the caller page dials the carrier's numbers. Every
call event the far end should see (prompts, bridge, hangup) is pushed to the socket that owns the call.

Who may act on a call: a softphone on calls ringing its registered identity (accept, reject, hang up) and on calls
it accepted or placed; a caller page only on calls it dialled. Listening in is a call to the supervisor's own
identity, placed by the supervision API (supervisors and admins only), never a socket picking a call SID. The
caller page needs no sign-in only while the server is reachable from this machine alone.
"""

from __future__ import annotations

import functools
import logging
from typing import Any

import jwt
from flask import current_app, request
from flask_babel import gettext as _
from flask_login import current_user
from flask_socketio import Namespace

from callcenter.extensions import socketio
from callcenter.i18n_caller import N_
from callcenter.realtime import payloads
from callcenter.settings import public_host
from callcenter.telephony.sim.engine import Call, Carrier

log = logging.getLogger(__name__)
NAMESPACE = "/sim"
INVALID_TOKEN = 20101
EXPIRED_TOKEN = 20104
NOT_YOUR_CALL = {"ok": False, "code": 31404, "message": "no such call on this phone"}
SIGN_IN = N_("sign in first: the caller page needs a signed-in user when the server is reachable from other machines")


def expects(**spec: payloads.Types):
    """Check the event's payload (an object with these field types) before the handler; a bad one is answered
    with an error acknowledgement, as the Voice SDK reports a malformed request, instead of raising."""

    def decorate(handler):
        @functools.wraps(handler)
        def wrapper(self, data: Any = None) -> dict[str, Any]:
            try:
                parsed = payloads.parse(data, spec)
            except payloads.PayloadError as exc:
                return {"ok": False, "code": 31000, "message": exc.message, "field": exc.field}
            return handler(self, parsed)

        return wrapper

    return decorate


def caller_page_open() -> bool:
    """Anyone on this machine may use the caller page (the demo's way to call in); elsewhere, signed-in users."""
    return public_host(current_app.config) is None or bool(current_user.is_authenticated)


class TokenError(Exception):
    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def verify_token(carrier: Carrier, token: str) -> tuple[str, int]:
    """Identity and expiry of a Voice access token signed with the emulator's auth token."""
    if not token:
        raise TokenError(INVALID_TOKEN, "Invalid Access Token: missing")
    try:
        payload = jwt.decode(token, carrier.auth_token, algorithms=["HS256"])
    except jwt.ExpiredSignatureError:
        raise TokenError(EXPIRED_TOKEN, "Access Token expired or expiration date invalid") from None
    except jwt.PyJWTError as exc:
        raise TokenError(INVALID_TOKEN, f"Invalid Access Token: {exc}") from None
    grants = payload.get("grants") or {}
    identity = grants.get("identity")
    if payload.get("sub") != carrier.account_sid:
        raise TokenError(INVALID_TOKEN, "Invalid Access Token: issued for another account")
    if not identity or "voice" not in grants:
        raise TokenError(INVALID_TOKEN, "Invalid Access Token: no identity or no voice grant")
    return identity, int(payload.get("exp", 0))


def _call_summary(call: Call) -> dict[str, Any]:
    return {
        "call_sid": call.sid,
        "parameters": {"CallSid": call.sid, "From": call.from_, "To": call.to, "AccountSid": call.account_sid},
        "custom_parameters": dict(call.custom_params),
        "direction": call.direction,
    }


class SocketEndpoint:
    """A browser softphone, as the carrier rings it."""

    def __init__(self, sid: str, identity: str) -> None:
        self.sid = sid
        self.identity = identity

    def ring(self, call: Call) -> None:
        socketio.emit("incoming", _call_summary(call), to=self.sid, namespace=NAMESPACE)

    def cancel(self, call: Call) -> None:
        socketio.emit("cancel", {"call_sid": call.sid}, to=self.sid, namespace=NAMESPACE)


def _forwarder(sid: str):
    def forward(call: Call, event: dict[str, Any]) -> None:
        socketio.emit("call_event", {"call_sid": call.sid, "status": call.status, "event": event},
                      to=sid, namespace=NAMESPACE)

    forward.socket_sid = sid  # type: ignore[attr-defined]
    return forward


class SimNamespace(Namespace):
    """Handlers for the shim and the caller page; state lives in the carrier, keyed by socket id."""

    endpoints: dict[str, SocketEndpoint]

    def __init__(self, namespace: str = NAMESPACE) -> None:
        super().__init__(namespace)
        self.endpoints = {}
        self.owned_calls: dict[str, set[str]] = {}

    def _carrier(self) -> Carrier | None:
        return current_app.extensions.get("sim.carrier")

    def _own(self, sid: str, call: Call) -> None:
        """Forward this call's events to the socket (once) and drop the call if the socket goes."""
        owned = self.owned_calls.setdefault(sid, set())
        if call.sid not in owned:
            owned.add(call.sid)
            call.listeners.append(_forwarder(sid))

    def _disown(self, sid: str, call: Call) -> None:
        """Undo `_own` (an accept that lost the race): stop forwarding, and leave the call alone on disconnect."""
        self.owned_calls.get(sid, set()).discard(call.sid)
        with call.carrier.cond:
            call.listeners[:] = [f for f in call.listeners if getattr(f, "socket_sid", None) != sid]

    def _rings_here(self, sid: str, call: Call) -> bool:
        """The call is for this socket's registered identity (it rings, or rang, this softphone)."""
        endpoint = self.endpoints.get(sid)
        return endpoint is not None and call.to == f"client:{endpoint.identity}"

    def _bound_call(self, data: dict[str, Any] | None) -> Call | None:
        """The call named in `data` when this socket may act on it: one it dialled or took, or one ringing it."""
        carrier = self._carrier()
        sid = request.sid  # type: ignore[attr-defined]
        call = carrier.calls.get(str((data or {}).get("call_sid", ""))) if carrier is not None else None
        if call is None or not (call.sid in self.owned_calls.get(sid, set()) or self._rings_here(sid, call)):
            return None
        return call

    def on_connect(self, auth: Any = None) -> bool:
        return self._carrier() is not None

    def on_disconnect(self, *args: Any) -> None:
        carrier = self._carrier()
        sid = request.sid  # type: ignore[attr-defined]
        endpoint = self.endpoints.pop(sid, None)
        if carrier is None:
            return
        if endpoint is not None:
            carrier.unregister_client(endpoint.identity, endpoint)
        for call_sid in self.owned_calls.pop(sid, set()):
            carrier.hangup(call_sid)  # a closed tab drops its calls, as a lost WebRTC leg would

    # ---- softphone (shim) ----

    @expects(token=str)
    def on_register(self, data: dict[str, Any] | None) -> dict[str, Any]:
        carrier = self._carrier()
        if carrier is None:
            return {"ok": False, "code": 31000, "message": _("no carrier emulator in this app")}
        try:
            identity, expires = verify_token(carrier, (data or {}).get("token", ""))
        except TokenError as exc:
            return {"ok": False, "code": exc.code, "message": exc.message}
        sid = request.sid  # type: ignore[attr-defined]
        previous = self.endpoints.get(sid)
        if previous is not None and previous.identity != identity:
            carrier.unregister_client(previous.identity, previous)
        endpoint = previous if previous is not None and previous.identity == identity else SocketEndpoint(sid, identity)
        self.endpoints[sid] = endpoint
        carrier.register_client(identity, endpoint)
        return {"ok": True, "identity": identity, "expires": expires}

    @expects(token=str)
    def on_update_token(self, data: dict[str, Any] | None) -> dict[str, Any]:
        carrier = self._carrier()
        if carrier is None:
            return {"ok": False, "code": 31000, "message": _("no carrier emulator in this app")}
        try:
            identity, expires = verify_token(carrier, (data or {}).get("token", ""))
        except TokenError as exc:
            return {"ok": False, "code": exc.code, "message": exc.message}
        return {"ok": True, "identity": identity, "expires": expires}

    @expects()
    def on_unregister(self, data: Any = None) -> dict[str, Any]:
        carrier = self._carrier()
        endpoint = self.endpoints.pop(request.sid, None)  # type: ignore[attr-defined]
        if carrier is not None and endpoint is not None:
            carrier.unregister_client(endpoint.identity, endpoint)
        return {"ok": True}

    @expects(call_sid=str)
    def on_accept(self, data: dict[str, Any]) -> dict[str, Any]:
        carrier = self._carrier()
        sid = request.sid  # type: ignore[attr-defined]
        endpoint = self.endpoints.get(sid)
        if carrier is None or endpoint is None:
            return {"ok": False, "code": 31205, "message": "not registered"}
        call = carrier.calls.get(str((data or {}).get("call_sid", "")))
        if call is None or not self._rings_here(sid, call):
            return NOT_YOUR_CALL
        self._own(sid, call)  # before answering, so no event of the answered call is missed
        if not carrier.answer(call.sid, endpoint):
            self._disown(sid, call)
            return {"ok": False, "code": 31404, "message": "the call is no longer ringing"}
        return {"ok": True}

    @expects(call_sid=str)
    def on_reject(self, data: dict[str, Any]) -> dict[str, Any]:
        call = self._bound_call(data)
        if call is None:
            return NOT_YOUR_CALL
        call.carrier.reject(call.sid)
        return {"ok": True}

    @expects(call_sid=str)
    def on_hangup(self, data: dict[str, Any]) -> dict[str, Any]:
        call = self._bound_call(data)
        if call is None:
            return NOT_YOUR_CALL
        call.carrier.hangup(call.sid)
        return {"ok": True}

    def _connected_call(self, data: dict[str, Any] | None) -> Call | None:
        """A call this socket dialled or took (keys, speech and mute need the line to be this phone's)."""
        call = self._bound_call(data)
        if call is None or call.sid not in self.owned_calls.get(request.sid, set()):  # type: ignore[attr-defined]
            return None
        return call

    @expects(call_sid=str, digits=str)
    def on_digits(self, data: dict[str, Any]) -> dict[str, Any]:
        digits = str((data or {}).get("digits", ""))
        if any(c not in "0123456789*#w" for c in digits):
            return {"ok": False, "message": "digits may only contain 0-9, * and #"}
        call = self._connected_call(data)
        if call is None:
            return NOT_YOUR_CALL
        call.carrier.send_digits(call.sid, digits.replace("w", ""))
        return {"ok": True}

    @expects(call_sid=str, text=str)
    def on_speak(self, data: dict[str, Any]) -> dict[str, Any]:
        text = str((data or {}).get("text", "")).strip()
        if not text:
            return {"ok": False, "message": "nothing to say"}
        call = self._connected_call(data)
        if call is None:
            return NOT_YOUR_CALL
        call.carrier.speak(call.sid, text)
        return {"ok": True}

    @expects(call_sid=str, muted=bool)
    def on_mute(self, data: dict[str, Any]) -> dict[str, Any]:
        call = self._connected_call(data)
        if call is None:
            return NOT_YOUR_CALL
        call.carrier.set_muted(call.sid, bool((data or {}).get("muted")))
        return {"ok": True}

    @expects(params=dict)
    def on_client_call(self, data: dict[str, Any] | None) -> dict[str, Any]:
        """device.connect({params}): a call from the registered identity through the TwiML app."""
        carrier = self._carrier()
        sid = request.sid  # type: ignore[attr-defined]
        endpoint = self.endpoints.get(sid)
        if carrier is None or endpoint is None:
            return {"ok": False, "code": 31205, "message": "register the device before placing calls"}
        params = {str(k): str(v) for k, v in ((data or {}).get("params") or {}).items()}
        try:
            call = carrier.client_connect(endpoint.identity, params, listener=_forwarder(sid))
        except (ValueError, RuntimeError) as exc:
            return {"ok": False, "code": 31000, "message": str(exc)}
        self.owned_calls.setdefault(sid, set()).add(call.sid)
        return {"ok": True, **_call_summary(call)}

    # ---- caller page ----

    @expects()
    def on_numbers(self, data: Any = None) -> dict[str, Any]:
        carrier = self._carrier()
        if not caller_page_open():
            return {"ok": False, "message": _(SIGN_IN)}
        return {"ok": True, "numbers": sorted(carrier.numbers) if carrier else []}

    @expects(**{"from": str}, to=str)
    def on_caller_dial(self, data: dict[str, Any] | None) -> dict[str, Any]:
        """The caller page dials one of the carrier's numbers."""
        carrier = self._carrier()
        sid = request.sid  # type: ignore[attr-defined]
        data = data or {}
        if carrier is None:
            return {"ok": False, "message": _("no carrier emulator in this app")}
        if not caller_page_open():
            return {"ok": False, "message": _(SIGN_IN)}
        from_ = str(data.get("from") or "").strip()
        to = str(data.get("to") or "").strip()
        if not from_:
            return {"ok": False, "message": _("enter the number you are calling from")}
        try:
            call = carrier.start_inbound(from_, to, listener=_forwarder(sid))
        except (ValueError, RuntimeError) as exc:
            return {"ok": False, "message": str(exc)}
        self.owned_calls.setdefault(sid, set()).add(call.sid)
        return {"ok": True, "call_sid": call.sid}
