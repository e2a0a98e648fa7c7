"""The agent's softphone legs: rung for an offer, answered, dropped and rung back, hung up; and the customer put
back in line when their agent never comes back.

Two kinds of steps. The state steps keep the live interaction (services.interactions) and the ACD
(services.routing) right. The carrier steps drive the legs as services.call_control does, with what the edge
that calls them passes in: the telephony `Provider`, our caller ID, a `webhook_url(path, **query)` builder for
the absolute URLs the carrier calls back, and `join_twiml(conference, end_on_exit)`. Nothing here knows whether
the carrier is Twilio or the emulator, nor which edge (webhook, REST API, offer reactions, ticker) called.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable
from typing import Any, Protocol

import redis
from sqlalchemy.orm import Session

from callcenter.services import (
    acd,
    agent_state,
    callbacks,
    calls,
    campaign_calls,
    queue_stats,
    recordings,
    routing,
)
from callcenter.services.call_control import carrier_action
from callcenter.services.errors import Conflict
from callcenter.services.events import publish
from callcenter.services.interactions import (
    ORPHANS,
    agent_identity,
    conference_name,
    interaction,
    interaction_key,
    set_and_read_interaction,
    set_interaction,
)
from callcenter.services.messages import t
from callcenter.telephony.base import Provider, TelephonyError

log = logging.getLogger(__name__)

# A customer leg's progress (ringing, answered) goes into its call record.
LEG_EVENTS = ("initiated", "ringing", "answered", "completed")
# An agent's softphone leg matters only when it ends (`agent_leg_ended`): Twilio reports busy, no-answer, failed
# and canceled as the `completed` event's CallStatus. Three callbacks fewer per offer, each a webhook to serve.
AGENT_LEG_EVENTS = ("completed",)
REJOIN_RING_SECONDS = 20
MIN_RING_SECONDS = 5


class WebhookUrl(Protocol):
    """Builds the absolute URL of a voice webhook (`/agent/answer`, `/requeue`, ...) with its query."""

    def __call__(self, path: str, **query: Any) -> str: ...


def _caller_sid(entry_id: str) -> str:
    """The caller's CallSid behind an ACD entry ("cb-<CallSid>" for a queue callback; a booked callback "cbk-..."
    has no caller leg until it is dialed, and is named after itself)."""
    return entry_id[3:] if entry_id.startswith("cb-") else entry_id


# --- Ringing ----------------------------------------------------------------------------------------------------


def ring_agent(r: redis.Redis, provider: Provider, *, agent_id: int, entry_id: str, from_number: str | None,
               timeout_seconds: float, caller_id: str, webhook_url: WebhookUrl) -> str:
    """Ring the agent's softphone for an offer whose pop they have seen; returns the leg's CallSid.

    The caller's number shows when known, else `caller_id`. TelephonyError when the carrier refuses."""
    leg = provider.place_call(
        to=f"client:{agent_identity(agent_id)}",
        from_=from_number or caller_id,
        url=webhook_url("/agent/answer", entry=entry_id, agent=agent_id),
        status_callback=webhook_url("/agent/status", entry=entry_id, agent=agent_id),
        status_callback_events=AGENT_LEG_EVENTS,
        timeout=max(int(timeout_seconds), MIN_RING_SECONDS),
    )
    ringing_agent(r, entry_id, agent_id, leg.sid)
    return leg.sid


def ringing_agent(r: redis.Redis, call_sid: str, agent_id: int, agent_leg_sid: str) -> None:
    """Remember which softphone leg rings for an offer, so it can be cancelled when the offer ends."""
    set_interaction(r, call_sid, conference_name=conference_name(_caller_sid(call_sid)),
                    caller_sid=_caller_sid(call_sid), agent_id=agent_id, ringing_sid=agent_leg_sid)


def ringing_leg(r: redis.Redis, call_sid: str) -> str | None:
    """The softphone leg still ringing for an offer (None once an agent answered it)."""
    data = interaction(r, call_sid)
    return data.get("ringing_sid") if data and not data.get("agent_sid") else None


def cancel_ringing(r: redis.Redis, provider: Provider, entry_id: str) -> None:
    """The offer ended unanswered: stop the softphone ringing (a leg already gone is fine)."""
    leg = ringing_leg(r, entry_id)
    if leg is None:
        return
    try:
        provider.end_call(leg)
    except TelephonyError as exc:
        log.info("ringing leg %s for %s already gone: %s", leg, entry_id, exc)


# --- Answered ---------------------------------------------------------------------------------------------------


def answer(session: Session, r: redis.Redis, *, agent_id: int, entry_id: str, agent_leg_sid: str) -> dict[str, Any]:
    """The agent picked up: the call is theirs; returns the interaction (its conference's name, the customer's leg).
    Conflict when the offer ended meanwhile (nothing changes then).

    The customer is brought into the conference by `bring_customer_in`, which the edge runs once the agent's
    softphone has its answer: the carrier's REST requests there (on Twilio a few hundred milliseconds each) kept
    the agent listening to silence, and their failure cannot change what the softphone is told."""
    return _answered(session, r, agent_id=agent_id, entry_id=entry_id, agent_leg_sid=agent_leg_sid)


def bring_customer_in(session: Session, r: redis.Redis, provider: Provider, link: dict[str, Any], *, agent_id: int,
                      entry_id: str, caller_id: str, webhook_url: WebhookUrl,
                      join_twiml: Callable[[str, bool], str]) -> None:
    """The customer of an answered interaction (`link`, from `answer`) joins the agent in its conference.

    A caller waiting on the line is redirected into it (and recorded when the queue's policy says so); a booked
    callback's customer is dialled into it by a job (at most once, whatever happens to the job), queued when the
    answer committed. TelephonyError when the carrier refuses the dial.

    A refused redirect is logged: the caller is still in the wait loop, and their next wait turn joins them to the
    conference (`caller_steps.answered_conference`) and starts the recording then."""
    name = link["conference_name"]
    if not link.get("callback_phone"):
        try:
            provider.redirect_call(link["caller_sid"], twiml=join_twiml(name, True))
        except TelephonyError as exc:
            log.warning("could not redirect caller %s into %s (%s): their next wait turn joins it",
                        link["caller_sid"], name, exc.message)
            return
        recordings.record_if_policy(session, provider, customer_sid=link["caller_sid"], agent_id=agent_id,
                                    queue_id=link.get("queue_id"), status_callback=webhook_url("/recording/status"))
    elif not link.get("callback_id"):
        # A callback entry with no callbacks row behind it (every booking path writes one): dialled here.
        customer = provider.add_participant(
            name, from_=caller_id, to=link["callback_phone"], label="customer", end_conference_on_exit=True,
            status_callback=webhook_url("/status"), status_callback_events=LEG_EVENTS)
        callbacks.callback_dialed(r, entry_id, customer.call_sid)


def agent_answered(session: Session, r: redis.Redis, *, agent_id: int, entry_id: str, agent_leg_sid: str,
                   now: float | None = None) -> dict[str, Any]:
    """The agent picked up: they get the call (Conflict when the offer ended meanwhile); returns the interaction."""
    return _answered(session, r, agent_id=agent_id, entry_id=entry_id, agent_leg_sid=agent_leg_sid, now=now)


def _answered(session: Session, r: redis.Redis, *, agent_id: int, entry_id: str, agent_leg_sid: str,
              now: float | None = None) -> dict[str, Any]:
    """`agent_answered`. The call's record names the agent and logs the answer in one statement, which carries
    the COMMIT unless a callback's dial or a campaign's lead is written after it: one database round trip
    where reading the record, inserting the event and updating the record took three."""
    now = time.time() if now is None else now
    entry = routing.accept_offer(session, r, agent_id, entry_id, now)
    caller_sid = _caller_sid(entry_id)
    data = set_and_read_interaction(
        r, entry_id, conference_name=conference_name(caller_sid), caller_sid=caller_sid, agent_sid=agent_leg_sid,
        agent_id=agent_id, queue_id=entry.queue_id,
        callback_phone=entry.payload.get("phone") if entry.callback else None)
    dialing = bool(entry.callback and entry.payload.get("callback_id"))
    campaign = bool(entry.payload.get("campaign"))
    queue_stats.publish_today_later(session, entry.queue_id)
    calls.record_answer(session, caller_sid, agent_id, agent_leg_sid, dedupe_key=f"agent_answered:{entry_id}",
                        commit=not (dialing or campaign))
    if dialing:
        callbacks.start_dialing(session, r, entry_id, int(entry.payload["callback_id"]), agent_id)
        data = interaction(r, entry_id) or {}  # it may name the callback being dialled now
    if campaign:  # a person the dialer called: the lead is this agent's now
        campaign_calls.bridged(session, r, entry, agent_id, now)
    session.commit()
    publish("agent.call", agent_id=agent_id, call_sid=entry_id, status="connected", **{
        k: v for k, v in data.items() if k in ("conference_name", "caller_sid", "agent_sid")})
    return data


# --- Dropped, rung back, hung up --------------------------------------------------------------------------------


def agent_leg_ended(session: Session, r: redis.Redis, *, agent_id: int, entry_id: str, status: str,
                    leg_sid: str | None = None, rejoin_grace_seconds: float = 30.0,
                    now: float | None = None) -> float | None:
    """The agent's softphone leg ended. Before an answer (rejected, no answer) the offer goes back.

    During the call, the leg dropping without the agent hanging up (a reloaded tab, a lost network) leaves the
    customer in the conference: the agent has `rejoin_grace_seconds` to come back before the customer is queued
    again. Returns that deadline, or None.
    """
    now = time.time() if now is None else now
    presence = agent_state.get_presence(r, agent_id)
    if presence.reservation == entry_id and status in ("busy", "no-answer", "failed", "canceled"):
        with contextlib.suppress(Conflict):  # the offer may have ended already (expired, caller gone)
            routing.reject_offer(session, r, agent_id, entry_id, now)
        return None
    data = interaction(r, entry_id) or {}
    if (status == "completed" and presence.state == agent_state.ON_CALL and presence.current_call == entry_id
            and leg_sid and data.get("agent_sid") == leg_sid and not data.get("ending")):
        deadline = now + rejoin_grace_seconds
        r.zadd(ORPHANS, {entry_id: deadline})
        publish("agent.call", agent_id=agent_id, call_sid=entry_id, status="dropped", rejoin_until=deadline)
        return deadline
    return None


def owned_call(r: redis.Redis, agent_id: int, entry_id: str) -> dict[str, Any]:
    """The live interaction `entry_id`, checked to be the agent's current call."""
    presence = agent_state.get_presence(r, agent_id)
    data = interaction(r, entry_id)
    if presence.current_call != entry_id or data is None:
        raise Conflict(t('This call is not yours (or it has ended)'), field="call_sid")
    return data


def rejoin_agent(r: redis.Redis, provider: Provider, *, agent_id: int, entry_id: str, caller_id: str,
                 webhook_url: WebhookUrl) -> str:
    """Ring the agent's softphone back into a call it dropped; returns the new leg's CallSid.

    Conflict unless it is still their call, or when the carrier refuses."""
    owned_call(r, agent_id, entry_id)
    with carrier_action("Calling your softphone back"):
        leg = provider.place_call(
            to=f"client:{agent_identity(agent_id)}",
            from_=caller_id,
            url=webhook_url("/agent/rejoin", entry=entry_id, agent=agent_id),
            status_callback=webhook_url("/agent/status", entry=entry_id, agent=agent_id),
            status_callback_events=AGENT_LEG_EVENTS,
            timeout=REJOIN_RING_SECONDS,
        )
    return leg.sid


def rejoin_answered(r: redis.Redis, *, agent_id: int, entry_id: str, leg_sid: str) -> dict[str, Any]:
    """The agent's softphone is back for a call it dropped: it joins the same conference again."""
    presence = agent_state.get_presence(r, agent_id)
    if presence.state != agent_state.ON_CALL or presence.current_call != entry_id:
        raise Conflict(t('This call is no longer yours'), field="call_sid")
    set_interaction(r, entry_id, agent_sid=leg_sid)
    r.zrem(ORPHANS, entry_id)
    publish("agent.call", agent_id=agent_id, call_sid=entry_id, status="connected", rejoined=True)
    return interaction(r, entry_id) or {}


def hang_up(r: redis.Redis, provider: Provider, *, agent_id: int, entry_id: str) -> str:
    """The agent ends the call for everyone: the customer's leg is hung up (the agent's own leg drops with the
    conference). Returns the customer's leg. Conflict when it is not their call or the carrier refuses.

    A call the agent placed has no interaction: its customer's leg is ended directly, ringing or answered (the
    agent's softphone leaving first would leave a still-ringing customer alone in a new conference)."""
    if interaction(r, entry_id) is None and acd.agent_hash(r, agent_id).get("outbound_call") == entry_id:
        with carrier_action("Hanging up"):
            provider.end_call(entry_id)
        return entry_id
    data = owned_call(r, agent_id, entry_id)
    # Marked ending first, so the agent's leg dropping with the conference is not taken for a lost softphone.
    set_interaction(r, entry_id, ending="1")
    r.zrem(ORPHANS, entry_id)
    customer = data["caller_sid"]
    try:
        with carrier_action("Hanging up"):
            provider.end_call(customer)
    except Exception:
        # The call goes on: if the agent's leg drops later it must still count as a drop (rejoin/requeue).
        r.hdel(interaction_key(entry_id), "ending")
        raise
    return customer


# --- Agents who never came back ---------------------------------------------------------------------------------


def claim_orphans(r: redis.Redis, now: float | None = None) -> list[str]:
    """Interactions whose agent did not come back in time (each claimed by one process only)."""
    now = time.time() if now is None else now
    claimed = []
    for raw in r.zrangebyscore(ORPHANS, 0, now):
        entry_id = raw.decode() if isinstance(raw, bytes) else raw
        if r.zrem(ORPHANS, entry_id):
            claimed.append(entry_id)
    return claimed


def requeue_orphan(session: Session, r: redis.Redis, entry_id: str, now: float | None = None) -> int | None:
    """The agent never came back: their part ends (wrap-up) and the customer is queued again, ahead of the
    line (priority boost), in the same queue. Returns the queue id."""
    data = interaction(r, entry_id) or {}
    finished = routing.finish_call(session, r, entry_id, now)
    queue_id = data.get("queue_id") or (finished.queue_id if finished else None)
    if finished is not None and finished.agent_id is not None:
        publish("agent.call", agent_id=finished.agent_id, call_sid=entry_id, status="ended",
                agent_state=finished.agent_state, wrap_up_until=finished.wrap_up_until)
    return queue_id


def expire_orphan(session: Session, r: redis.Redis, provider: Provider, entry_id: str, *,
                  webhook_url: WebhookUrl) -> None:
    """An agent did not come back in time: wrap them up and send the customer's leg back to the queue
    (/requeue), unless the customer has gone meanwhile."""
    caller_sid = (interaction(r, entry_id) or {}).get("caller_sid")
    queue_id = requeue_orphan(session, r, entry_id)
    if caller_sid and queue_id is not None:
        try:
            provider.redirect_call(caller_sid, url=webhook_url("/requeue", queue=queue_id))
        except TelephonyError as exc:
            log.info("customer %s of %s is already gone: %s", caller_sid, entry_id, exc)
