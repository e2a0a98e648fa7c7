"""Realtime: Socket.IO namespaces in, domain events out (through the one publisher)."""

from __future__ import annotations

from flask import Flask

from callcenter.extensions import socketio
from callcenter.realtime import publisher
from callcenter.realtime.namespaces import AgentNamespace, SupervisorNamespace
from callcenter.services.events import bus


def init_app(app: Flask) -> None:
    socketio.on_namespace(AgentNamespace(publisher.AGENT_NS))
    socketio.on_namespace(SupervisorNamespace(publisher.SUPERVISOR_NS))
    bus.subscribe(publisher.forward)
