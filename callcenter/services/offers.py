"""Offers as the agent sees them: the screen-pop is built once, kept for re-sends, and must be acknowledged.

A console that does not acknowledge a pop within `ack_seconds` (a throttled background tab, a dead laptop) is
flagged unreachable and the call goes to the next agent, instead of ringing someone who will never answer.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from typing import Any

import redis
from sqlalchemy.orm import Session

from callcenter.services import acd, agent_state, calls, queues, routing
from callcenter.services.errors import Conflict
from callcenter.services.events import publish
from callcenter.services.screen_pop import EARLIER_CALLS, build_screen_pop, caller_card, has_earlier_calls

ACK_DUE = "cc:offers:ack_due"  # sorted set "agent_id:call_sid" -> ack deadline (epoch seconds)
OFFER_TTL_SECONDS = 3600
DEFAULT_ACK_SECONDS = 2.0
CARD_FRESH_SECONDS = 120  # a caller card built at the greeting is used for pops made this soon after
CARD_TTL_SECONDS = 3600


def _card_key(call_sid: str) -> str:
    return f"cc:call:{call_sid}:caller_card"


def remember_caller_card(session: Session, r: redis.Redis, call_sid: str, from_number: str, region: str = "US",
                         now: float | None = None) -> dict[str, Any]:
    """Build the caller's card for the pop while they are in the IVR, so the offer needs no CRM query (nor, for a
    first-time caller, a history query)."""
    card = caller_card(session, call_sid=call_sid, from_number=from_number, region=region)
    card[EARLIER_CALLS] = has_earlier_calls(session, card, call_sid)
    built_at = time.time() if now is None else now
    r.set(_card_key(call_sid), json.dumps({"built_at": built_at, "card": card}), ex=CARD_TTL_SECONDS)
    return card


def _fresh_card(raw: bytes | str | None, now: float) -> dict[str, Any] | None:
    """The card built at the greeting (`raw`, as kept in Redis), unless it is old enough that the CRM may have
    moved on since."""
    if raw is None:
        return None
    try:
        kept = json.loads(raw)
        if now - float(kept["built_at"]) <= CARD_FRESH_SECONDS:
            return dict(kept["card"])
    except (ValueError, TypeError, KeyError):
        pass
    return None


def offer_key(call_sid: str) -> str:
    return f"cc:offer:{call_sid}"


def _member(agent_id: int, call_sid: str) -> str:
    return f"{agent_id}:{call_sid}"


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat()


def prepare_offer(
    session: Session,
    r: redis.Redis,
    *,
    agent_id: int,
    call_sid: str,
    queue_id: int,
    expires_at: str,
    from_number: str | None,
    contact_id: int | None = None,
    callback: bool = False,
    payload: dict[str, Any] | None = None,
    region: str = "US",
    ack_seconds: float = DEFAULT_ACK_SECONDS,
    now: float | None = None,
    **_ignored: Any,
) -> dict[str, Any]:
    """Build the pop for an offer the ACD just made, keep it for re-sends, start the ack clock, publish it.

    Takes the "offer.created" event payload as keyword arguments.
    """
    now = time.time() if now is None else now
    payload = payload or {}
    entry, kept = acd.entry_reading_along(r, call_sid, [_card_key(call_sid)])
    queue = queues.queue_snapshot(session, queue_id)
    pop = build_screen_pop(
        session,
        call_sid=payload.get("call_sid", call_sid),
        from_number=from_number or payload.get("phone") or "",
        queue_name=queue.name if queue else None,
        ivr_path=payload.get("ivr_path"),
        waited_seconds=(now - entry.enqueued_at) if entry else None,
        region=region,
        contact_id=contact_id if callback else None,
        card=None if callback else _fresh_card(kept[_card_key(call_sid)], now),
        caller_language=payload.get("caller_language") or (entry.language if entry else None),
        viewer_id=agent_id,
    )
    if payload.get("campaign"):  # a person the dialer called: which campaign and lead, the list's own fields
        pop["campaign"] = payload["campaign"]
    offer = {
        "call_sid": call_sid,
        "agent_id": agent_id,
        "queue_id": queue_id,
        "expires_at": expires_at,
        "ack_due": _iso(now + ack_seconds),
        "callback": callback,
        "pop": pop,
    }
    # Before the pop goes out: the console asks for the caller's record at once, and role scope lets the agent
    # read it because the call now names them. The "offered" phase is one insert (a job derives it), which
    # carries the COMMIT.
    calls.record_offer(session, payload.get("call_sid", call_sid), agent_id, commit=True)
    pipe = r.pipeline()
    pipe.set(offer_key(call_sid), json.dumps(offer), ex=OFFER_TTL_SECONDS)
    pipe.zadd(ACK_DUE, {_member(agent_id, call_sid): now + ack_seconds})
    pipe.execute()
    publish("offer.ready", **offer)
    return offer


def stored_offer(r: redis.Redis, call_sid: str) -> dict[str, Any] | None:
    raw = r.get(offer_key(call_sid))
    return json.loads(raw) if raw else None


def current_offer_for(r: redis.Redis, agent_id: int) -> dict[str, Any] | None:
    """The offer an agent holds now, with its pop, for a console that reconnects or reloads."""
    offer = routing.current_offer(r, agent_id)
    if offer is None:
        return None
    return stored_offer(r, offer.call_sid)


def acknowledge(r: redis.Redis, agent_id: int, call_sid: str) -> bool:
    """The console rendered the pop: now the softphone may ring ("offer.acknowledged", published once)."""
    with r.pipeline(transaction=False) as pipe:  # one round trip: the ack claimed, and the offer it is for
        pipe.zrem(ACK_DUE, _member(agent_id, call_sid))
        pipe.get(offer_key(call_sid))
        claimed, raw = pipe.execute()
    if not claimed:
        return False
    offer = json.loads(raw) if raw else {}
    publish("offer.acknowledged", agent_id=agent_id, call_sid=call_sid, expires_at=offer.get("expires_at"),
            from_number=(offer.get("pop") or {}).get("from"))
    return True


def expire_unacknowledged(session: Session, r: redis.Redis, now: float | None = None) -> list[tuple[int, str]]:
    """Offers whose pop was not acknowledged in time: flag the agent unreachable, offer the call to the next."""
    now = time.time() if now is None else now
    moved = []
    for raw in r.zrangebyscore(ACK_DUE, 0, now):
        member = raw.decode() if isinstance(raw, bytes) else raw
        if not r.zrem(ACK_DUE, member):  # another process claimed it
            continue
        agent_text, _, call_sid = member.partition(":")
        agent_id = int(agent_text)
        agent_state.set_unreachable(r, agent_id, True, now)
        try:
            routing.reject_offer(session, r, agent_id, call_sid, now)
        except Conflict:
            continue  # the offer ended meanwhile (accepted, hung up): nothing to move
        publish("offer.unacknowledged", agent_id=agent_id, call_sid=call_sid, at=_iso(now))
        moved.append((agent_id, call_sid))
    return moved


def forget(r: redis.Redis, call_sid: str) -> None:
    """Drop the stored offer once the call has ended."""
    r.delete(offer_key(call_sid))
