"""The live interaction: what Redis knows about a call while it is bridged to an agent, and the names it uses.

An interaction is keyed by its ACD entry id (the caller's CallSid, `cb-<CallSid>` for a queue callback,
`cbk-...` for a booked one). It names the conference that bridges caller and agents, the legs in it and the
agent who has it; caller steps, agent legs and call control all read and write it here.
"""

from __future__ import annotations

from typing import Any

import redis

INTERACTION_TTL_SECONDS = 24 * 3600
ORPHANS = "cc:interactions:orphaned"  # sorted set entry_id -> deadline for the agent to rejoin


def conference_name(call_sid: str) -> str:
    """The conference that bridges a caller and agents is named after the interaction (the caller's CallSid)."""
    return f"interaction-{call_sid}"


def agent_identity(agent_id: int) -> str:
    """The softphone identity of an agent (Voice SDK `Device` / `client:` address)."""
    return f"agent-{agent_id}"


def interaction_key(call_sid: str) -> str:
    return f"cc:interaction:{call_sid}"


def interaction(r: redis.Redis, call_sid: str) -> dict[str, Any] | None:
    """A live interaction: {conference_name, caller_sid, agent_sid, agent_id, queue_id, callback_phone}."""
    return _decoded(r.hgetall(interaction_key(call_sid)))


def _decoded(raw: dict) -> dict[str, Any] | None:
    if not raw:
        return None
    data = {k.decode() if isinstance(k, bytes) else k: v.decode() if isinstance(v, bytes) else v
            for k, v in raw.items()}
    for name in ("agent_id", "queue_id"):
        if data.get(name):
            data[name] = int(data[name])
    return data


def set_interaction(r: redis.Redis, call_sid: str, **fields: Any) -> None:
    """Record (or update) fields of a live interaction; kept a day. One round trip."""
    with r.pipeline(transaction=False) as pipe:
        _set_fields(pipe, call_sid, fields)
        pipe.execute()


def set_and_read_interaction(r: redis.Redis, call_sid: str, **fields: Any) -> dict[str, Any]:
    """`set_interaction`, and the whole interaction as it is now, in the same round trip."""
    with r.pipeline(transaction=False) as pipe:
        _set_fields(pipe, call_sid, fields)
        pipe.hgetall(interaction_key(call_sid))
        return _decoded(pipe.execute()[-1]) or {}


def _set_fields(pipe: redis.client.Pipeline, call_sid: str, fields: dict[str, Any]) -> None:
    pipe.hset(interaction_key(call_sid), mapping={k: str(v) for k, v in fields.items() if v is not None})
    pipe.expire(interaction_key(call_sid), INTERACTION_TTL_SECONDS)
