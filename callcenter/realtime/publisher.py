"""The one module that emits Socket.IO events: domain events in, pushes to rooms out.

Runs in every process: in a web process the emit reaches local sockets and, through the Redis message queue, the
other web processes; in a worker the same call only publishes to the queue.
"""

from __future__ import annotations

import logging
from functools import partial
from typing import Any

from callcenter.background import beside_the_request
from callcenter.extensions import socketio
from callcenter.redis_conn import get_redis
from callcenter.services import reachability
from callcenter.services.events import DomainEvent

log = logging.getLogger(__name__)

AGENT_NS = "/agent"
SUPERVISOR_NS = "/supervisor"
# Admins' wallboards are in WALLBOARD_ROOM and hear everything. A supervisor's wallboard hears the queues (shared by
# every team) in QUEUES_ROOM, and each agent of their teams in that agent's `supervised_room`, joined when it opened.
WALLBOARD_ROOM = "wallboard"
QUEUES_ROOM = "wallboard:queues"

# Offer outcomes the console must hear about, with the reason it shows. (A rejection is the agent's own act,
# answered by its acknowledgement; when the server rejects on the agent's behalf it publishes its own reason.)
WITHDRAWN = {
    "offer.expired": "timed out",
    "offer.cancelled": "caller hung up or the offer was taken back",
    "offer.unacknowledged": "console did not respond",
}


def agent_room(agent_id: int) -> str:
    return f"agent:{agent_id}"


def supervised_room(agent_id: int) -> str:
    return f"wallboard:agent:{agent_id}"


def _about_agent(agent_id: int | None) -> list[str]:
    """The wallboards that may see an agent's news: admins', and their supervisors'."""
    return [WALLBOARD_ROOM, supervised_room(agent_id) if agent_id is not None else QUEUES_ROOM]


def emit(event: str, data: dict[str, Any], *, namespace: str, room: str | list[str] | None = None,
         to: str | None = None) -> None:
    socketio.emit(event, data, namespace=namespace, to=to or room)


def forward(event: DomainEvent) -> None:
    """Route a domain event to the consoles and wallboards that show it."""
    p = event.payload
    name = event.name
    if name == "offer.ready":
        emit("offer", p, namespace=AGENT_NS, room=agent_room(p["agent_id"]))
    elif name == "offer.accepted":
        emit("offer_accepted", p, namespace=AGENT_NS, room=agent_room(p["agent_id"]))
    elif name in WITHDRAWN:
        emit("offer_withdrawn", {**p, "reason": WITHDRAWN[name]}, namespace=AGENT_NS, room=agent_room(p["agent_id"]))
    elif name in {"agent.state_changed", "agent.reachability_changed"}:
        emit("state", p, namespace=AGENT_NS, room=agent_room(p["agent_id"]))
        emit("agent", p, namespace=SUPERVISOR_NS, room=_about_agent(p["agent_id"]))
    elif name == "agents.heartbeat":
        # One emit to the slot's agent rooms: one message-queue message however many agents it pings.
        socketio.emit("heartbeat", {"nonce": p["nonce"]}, namespace=AGENT_NS,
                      to=[agent_room(agent_id) for agent_id in p["agent_ids"]])
    elif name == "agent.call":
        emit("call", p, namespace=AGENT_NS, room=agent_room(p["agent_id"]))
    elif name in {"queue.changed", "queue.stats"}:
        # Wallboards only: the webhook that changed the queue answers its caller first.
        beside_the_request(partial(emit, "queue", p, namespace=SUPERVISOR_NS, room=[WALLBOARD_ROOM, QUEUES_ROOM]),
                           what=f"pushing {name} to the wallboards")
    elif name == "queue.alert":
        emit("alert", p, namespace=SUPERVISOR_NS, room=[WALLBOARD_ROOM, QUEUES_ROOM])
    elif name == "user.sessions_ended":
        # Through the message queue, the web process holding each socket closes it.
        for sid in reachability.console_sockets(get_redis(), p["user_id"]):
            socketio.server.disconnect(sid, namespace=AGENT_NS)
    elif name in {"ticket.escalated", "ticket.assigned"}:
        emit("ticket", {**p, "event": name}, namespace=AGENT_NS, room=agent_room(p["agent_id"]))
    elif name == "call.updated":
        emit("call", p, namespace=SUPERVISOR_NS, room=_about_agent(p.get("agent_id")))
