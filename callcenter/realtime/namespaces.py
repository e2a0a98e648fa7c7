"""Socket.IO handlers on the way in: the agent console (/agent) and the supervisor wallboard (/supervisor).

Each handler parses, calls one service, and answers through the Socket.IO acknowledgement
({"ok": true, ...} or {"ok": false, "error": message, "field": name}).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import wraps
from typing import Any

from flask import Flask, current_app, request
from flask_babel import gettext as _
from flask_login import current_user
from flask_socketio import ConnectionRefusedError, Namespace, SocketIO, join_room

from callcenter.extensions import db
from callcenter.i18n import translate
from callcenter.models import Role
from callcenter.realtime import heartbeats, payloads, publisher
from callcenter.redis_conn import get_redis
from callcenter.services import agent_state, offers, reachability, routing, wallboard
from callcenter.services.errors import DomainError
from callcenter.services.metrics import Thresholds

log = logging.getLogger(__name__)


Handler = Callable[..., dict[str, Any] | None]


def acknowledged(**spec: payloads.Types) -> Callable[[Handler], Callable[..., dict[str, Any]]]:
    """Check the payload against `spec` (field -> type) and turn domain errors into an error acknowledgement
    instead of a dropped event or an exception."""

    def decorate(handler: Handler) -> Callable[..., dict[str, Any]]:
        @wraps(handler)
        def wrapper(self, data: Any = None) -> dict[str, Any]:
            if not current_user.is_authenticated:
                return {"ok": False, "error": _("Your session has ended; sign in again.")}
            try:
                result = handler(self, payloads.parse(data, spec))
            except payloads.PayloadError as exc:
                return {"ok": False, "error": translate(exc.message), "field": exc.field}
            except DomainError as exc:
                db.session.rollback()
                return {"ok": False, "error": translate(exc.message), "field": exc.field}
            return {"ok": True, **(result or {})}

        return wrapper

    return decorate


# The agent each open /agent socket of this process was authenticated as when it connected. The busiest events
# (heartbeats: every agent every few seconds; offer acknowledgements: on the screen-pop's path) need only that id,
# so they skip loading the user from the database, as a dozen database reads a second per hundred agents would.
_socket_agents: dict[str, int] = {}


def connected_agent(**spec: payloads.Types) -> Callable[[Handler], Callable[..., dict[str, Any]]]:
    """Like `acknowledged`, for events that need only the socket's agent id: no user is loaded (so no session
    fingerprint is checked either; a socket that outlived a password reset can answer heartbeats and acknowledge
    its own offers, nothing else). The handler gets the agent id as its second argument."""

    def decorate(handler: Handler) -> Callable[..., dict[str, Any]]:
        @wraps(handler)
        def wrapper(self, data: Any = None) -> dict[str, Any]:
            agent_id = _socket_agents.get(request.sid)
            if agent_id is None:
                return {"ok": False, "error": _("Your session has ended; sign in again.")}
            try:
                result = handler(self, agent_id, payloads.parse(data, spec))
            except payloads.PayloadError as exc:
                return {"ok": False, "error": translate(exc.message), "field": exc.field}
            except DomainError as exc:
                return {"ok": False, "error": translate(exc.message), "field": exc.field}
            return {"ok": True, **(result or {})}

        return wrapper

    return decorate


def presence_view(presence: agent_state.AgentPresence) -> dict[str, Any]:
    return {
        "state": presence.state,
        "since": presence.since,
        "reason": presence.reason,
        "unreachable": presence.unreachable,
        "disconnected": presence.disconnected_at is not None,
        "current_call": presence.current_call,
        "wrap_up_until": presence.wrap_up_until,
    }


def agent_snapshot(agent_id: int) -> dict[str, Any]:
    """Everything a console needs after a (re)connect: state, the pending offer, the call in progress."""
    r = get_redis()
    presence = agent_state.get_presence(r, agent_id)
    current_call = offers.stored_offer(r, presence.current_call) if presence.current_call else None
    return {
        "agent_id": agent_id,
        "presence": presence_view(presence),
        "offer": offers.current_offer_for(r, agent_id),
        "call": current_call,
    }


def _answer_batch(app: Flask, socketio: SocketIO) -> heartbeats.AnswerBatch:
    """This app's gatherer of heartbeat answers (one per web process and app)."""
    batch = app.extensions.get("callcenter.heartbeat_answers")
    if batch is None:
        batch = app.extensions["callcenter.heartbeat_answers"] = heartbeats.AnswerBatch(
            app.extensions["callcenter.redis"], socketio.start_background_task, socketio.sleep)
    return batch


class AgentNamespace(Namespace):
    def trigger_event(self, event: str, *args: Any) -> Any:
        """Heartbeat answers skip Flask: no request context, no session copy, no user.

        Every console answers one every few seconds (a hundred a second at 500 agents), and Flask-SocketIO opens a
        request context and copies the session for each; profiles of a loaded web process put those answers near
        a tenth of its CPU. The answer's Redis write joins the process's other answers (`heartbeats.AnswerBatch`).
        An answer that is not a plain one (unknown socket, malformed payload) takes the normal path, which explains
        the problem in the agent's language."""
        if event == "heartbeat" and self._answer_heartbeat(*args):
            return {"ok": True, "nonce": args[1].get("nonce")}
        return super().trigger_event(event, *args)

    def _answer_heartbeat(self, sid: str, data: Any = None, *_: Any) -> bool:
        agent_id = _socket_agents.get(sid)
        if agent_id is None or not isinstance(data, dict) or not isinstance(data.get("nonce"), (str, int)):
            return False
        environ = self.socketio.server.get_environ(sid, namespace=self.namespace)
        if not environ:
            return False
        _answer_batch(environ["flask.app"], self.socketio).add(agent_id)
        return True

    def on_connect(self, auth: Any = None) -> None:
        if not current_user.is_authenticated:
            raise ConnectionRefusedError("Sign in first")
        agent_id = current_user.id
        join_room(publisher.agent_room(agent_id))
        _socket_agents[request.sid] = agent_id
        reachability.socket_connected(db.session, get_redis(), agent_id, request.sid)
        publisher.emit("hello", agent_snapshot(agent_id), namespace=publisher.AGENT_NS, to=request.sid)

    def on_disconnect(self, reason: Any = None) -> None:
        agent_id = _socket_agents.pop(request.sid, None)
        if agent_id is not None:
            reachability.socket_disconnected(db.session, get_redis(), agent_id, request.sid)

    @acknowledged(state=str, reason=(str, type(None)))
    def on_set_state(self, data: dict[str, Any]) -> dict[str, Any]:
        r = get_redis()
        state, reason = str(data.get("state", "")), data.get("reason")
        if agent_state.get_presence(r, current_user.id).state == agent_state.OFFLINE and state != agent_state.OFFLINE:
            presence = agent_state.login(db.session, r, current_user.id, state=state, reason=reason)
        else:
            presence = agent_state.change_state(db.session, r, current_user.id, state, reason=reason)
        if presence.offerable:
            routing.dispatch(db.session, r)
        return {"presence": presence_view(agent_state.get_presence(r, current_user.id))}

    @connected_agent(call_sid=str)
    def on_offer_ack(self, agent_id: int, data: dict[str, Any]) -> dict[str, Any]:
        call_sid = str(data.get("call_sid", ""))
        offers.acknowledge(get_redis(), agent_id, call_sid)
        return {"call_sid": call_sid}

    @acknowledged(call_sid=str)
    def on_offer_reject(self, data: dict[str, Any]) -> dict[str, Any]:
        routing.reject_offer(db.session, get_redis(), current_user.id, str(data.get("call_sid", "")))
        return {}

    @connected_agent(nonce=(str, int, type(None)))
    def on_heartbeat(self, agent_id: int, data: dict[str, Any]) -> dict[str, Any]:
        reachability.heartbeat_answered(get_redis(), agent_id)
        return {"nonce": data.get("nonce")}

    @acknowledged()
    def on_snapshot(self, data: dict[str, Any]) -> dict[str, Any]:
        return agent_snapshot(current_user.id)

    def on_echo(self, data: Any = None) -> Any:
        """The bare Socket.IO round trip: `data` back as the acknowledgement, with no database, Redis or user lookup
        (the connection was authenticated when it opened). The benchmark's yardstick for the screen-pop."""
        return data


class SupervisorNamespace(Namespace):
    def on_connect(self, auth: Any = None) -> None:
        if not current_user.is_authenticated or current_user.role not in (Role.SUPERVISOR.value, Role.ADMIN.value):
            raise ConnectionRefusedError("Supervisors only")
        snapshot = wallboard.snapshot(db.session, get_redis(), viewer=current_user,
                                      thresholds=Thresholds.from_config(current_app.config))
        if current_user.role == Role.ADMIN.value:
            join_room(publisher.WALLBOARD_ROOM)
        else:  # their teams' agents as they are now; a reconnect (or reload) picks up a changed team
            join_room(publisher.QUEUES_ROOM)
            for agent in snapshot["agents"]:
                join_room(publisher.supervised_room(agent["agent_id"]))
        publisher.emit("snapshot", snapshot, namespace=publisher.SUPERVISOR_NS, to=request.sid)

    @acknowledged()
    def on_snapshot(self, data: dict[str, Any]) -> dict[str, Any]:
        return wallboard.snapshot(db.session, get_redis(), viewer=current_user,
                                  thresholds=Thresholds.from_config(current_app.config))
