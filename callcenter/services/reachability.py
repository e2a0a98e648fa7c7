"""Is an agent's console really there? Sockets per agent, and an application-level heartbeat.

Browsers throttle timers in background tabs, so a console can keep its socket yet stop reacting. The server
pings every connected console; one that has not answered for `timeout` seconds is flagged unreachable (no
offers) until it answers again.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterable

import redis
from sqlalchemy.orm import Session

from callcenter.services import acd, agent_state

CONNECTED = "cc:agents:connected"  # sorted set agent_id -> last heartbeat answer (epoch seconds)


def sockets_key(agent_id: int) -> str:
    return f"cc:agent:{agent_id}:sockets"


def socket_connected(session: Session, r: redis.Redis, agent_id: int, sid: str, now: float | None = None) -> bool:
    """Register a console socket; returns True when it is the agent's first (a reconnect after a loss)."""
    now = time.time() if now is None else now
    pipe = r.pipeline()
    pipe.sadd(sockets_key(agent_id), sid)
    pipe.scard(sockets_key(agent_id))
    pipe.zadd(CONNECTED, {str(agent_id): now})
    _, count, _ = pipe.execute()
    agent_state.reconnected(session, r, agent_id, now)
    if agent_state.get_presence(r, agent_id).unreachable:
        agent_state.set_unreachable(r, agent_id, False, now)
    return count == 1


def console_sockets(r: redis.Redis, agent_id: int) -> list[str]:
    """The ids of the agent's open console sockets, in every web process."""
    return sorted(s.decode() if isinstance(s, bytes) else s for s in r.smembers(sockets_key(agent_id)))


def socket_disconnected(session: Session, r: redis.Redis, agent_id: int, sid: str, now: float | None = None) -> bool:
    """Forget a console socket; when it was the last one, the agent enters the disconnect grace period."""
    now = time.time() if now is None else now
    pipe = r.pipeline()
    pipe.srem(sockets_key(agent_id), sid)
    pipe.scard(sockets_key(agent_id))
    _, remaining = pipe.execute()
    if remaining:
        return False
    r.zrem(CONNECTED, str(agent_id))
    agent_state.disconnected(session, r, agent_id, now)
    return True


def heartbeat_targets(r: redis.Redis, slots: set[int] | None = None, interval: int = 1) -> tuple[str, list[int]]:
    """A fresh nonce and the connected agents to ping with it: those whose id falls in one of `slots` (id modulo
    `interval`), every connected agent when `slots` is None.

    Pinging the floor slot by slot, one slot a second, spreads its answers over the interval: 500 consoles
    answering in the same instant every few seconds stalled every webhook of the web process behind them."""
    agents = [int(a) for a in r.zrange(CONNECTED, 0, -1)]
    if slots is not None:
        agents = [a for a in agents if a % interval in slots]
    return secrets.token_hex(8), agents


def heartbeat_answered(r: redis.Redis, agent_id: int, now: float | None = None) -> None:
    """The console answered: it is alive; clear an unreachable flag."""
    heartbeats_answered(r, [agent_id], now)


def heartbeats_answered(r: redis.Redis, agent_ids: Iterable[int], now: float | None = None) -> None:
    """Several consoles answered: one round trip for all of them (a web process gathers its answers, about fifty
    a second at 500 agents); the unreachable flags they clear cost one more each, and are rare."""
    now = time.time() if now is None else now
    ids = sorted(set(agent_ids))
    if not ids:
        return
    pipe = r.pipeline(transaction=False)
    pipe.zmscore(CONNECTED, [str(agent_id) for agent_id in ids])
    pipe.zadd(CONNECTED, dict.fromkeys(map(str, ids), now), xx=True)  # xx: a socket gone meanwhile is not re-added
    for agent_id in ids:
        pipe.hget(acd.agent_key(agent_id), "unreachable")
    connected, _, *unreachable = pipe.execute()
    for agent_id, score, flag in zip(ids, connected, unreachable, strict=True):
        if score is not None and flag in (b"1", "1"):
            agent_state.set_unreachable(r, agent_id, False, now)


def flag_unresponsive(r: redis.Redis, now: float | None = None, timeout: float = 15.0) -> list[int]:
    """Connected consoles silent for `timeout` seconds become unreachable; returns the newly flagged."""
    now = time.time() if now is None else now
    flagged = []
    for raw in r.zrangebyscore(CONNECTED, 0, now - timeout):
        agent_id = int(raw)
        if not agent_state.get_presence(r, agent_id).unreachable:
            agent_state.set_unreachable(r, agent_id, True, now)
            flagged.append(agent_id)
    return flagged
