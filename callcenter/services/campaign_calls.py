"""A campaign call once the carrier has placed it: answered by a person or a machine, bridged or abandoned, over.

    answered, AnsweredBy human/unknown   the callee joins the campaign's queue at the top, with a short
                                         deadline (CAMPAIGN_CONNECT_SECONDS, 2 s): the ACD offers them to a free
                                         campaign agent exactly like an inbound caller, pop first, then the
                                         agent's softphone rings; the callee hears a short silence meanwhile
    the agent picks up (`bridged`)       services.agent_legs moves the callee into the interaction's conference;
                                         the attempt's outcome is "answered", the lead `connected` until the
                                         agent's disposition (services.leads.apply_disposition)
    no agent by the deadline             the callee hears the campaign's identification message and the call
    (`connect_check`)                    counts as abandoned (the gate's abandon lock-out starts); lead recycled
    AnsweredBy machine_*/fax             the campaign's voicemail drop is said (fax: nothing) and the line hung
                                         up; outcome "machine", lead recycled
    status callback no-answer/busy/...   outcome and lead recycled (`call_status`)

Time here is the server's clock (`now`, epoch seconds), not the carrier's: the deadline holds whatever the
carrier's pace (the emulator runs its clock faster in tests).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

import redis
from sqlalchemy.orm import Session

from callcenter.models import CampaignContact, Contact, DialAttempt
from callcenter.services import acd, caller_steps, calls, campaigns, dialer, dialing_gate, leads, routing
from callcenter.services.acd import QueueEntry
from callcenter.services.errors import DomainError
from callcenter.services.interactions import conference_name

DEFAULT_CONNECT_SECONDS = 2.0
# Ahead of every inbound caller: a person we called must not wait behind the queue.
CAMPAIGN_PRIORITY_BOOST = 100_000
CONNECT_KEY_TTL_SECONDS = 600
# What AMD reports for a person (`unknown`: it could not tell: better an agent than a message into a live ear).
LIVE_ANSWERS = frozenset({"human", "unknown"})
# Once an agent took the callee, their leg waits this long (carrier seconds) for the agent's redirect, and joins
# the conference itself only when none came this long after the deadline.
BRIDGE_WAIT_SECONDS = 5
BRIDGE_GRACE_SECONDS = 10


def connect_key(call_sid: str) -> str:
    return f"cc:dialer:connect:{call_sid}"


def _utc(now: float) -> datetime:
    return datetime.fromtimestamp(now, UTC)


@dataclass(frozen=True)
class Step:
    """What the callee's leg does next.

    kind: "wait" (silence for `wait_seconds`, then ask again), "bridged" (join `conference`), "message" (say
    `text`, may be empty, then hang up)."""

    kind: str
    wait_seconds: int = 0
    text: str = ""
    conference: str | None = None


def _attempt(session: Session, attempt_id: int | None, call_sid: str) -> tuple[DialAttempt, CampaignContact] | None:
    """The attempt a webhook's (signed) URL names, if `call_sid` is its call. The carrier can call back before the
    dialer has stored the CallSid its REST request returned: the first webhook then attaches it, as the dialer
    would (no commit)."""
    attempt = session.get(DialAttempt, attempt_id) if attempt_id is not None else None
    if attempt is not None and attempt.call_sid is None and attempt.allowed:
        dialing_gate.attach_call(session, attempt.id, call_sid)
    if attempt is None or attempt.call_sid != call_sid or attempt.campaign_contact_id is None:
        return None
    lead = session.get(CampaignContact, attempt.campaign_contact_id)
    return (attempt, lead) if lead is not None else None


def answered(session: Session, r: redis.Redis, *, call_sid: str, attempt_id: int | None, answered_by: str | None,
             now: float, connect_seconds: float = DEFAULT_CONNECT_SECONDS) -> Step:
    """The carrier answered a campaign call and says who answered (AnsweredBy). Idempotent on a retried
    webhook: the ACD entry and the outcome are recorded once."""
    found = _attempt(session, attempt_id, call_sid)
    if found is None:
        return Step("message")
    attempt, lead = found
    campaign = lead.campaign
    who = (answered_by or "unknown").strip().lower() or "unknown"
    attempt.answered_by = who[:32]
    if who not in LIVE_ANSWERS:
        drop = campaign.voicemail_drop_text if who.startswith("machine") else ""
        if attempt.outcome is None:
            dialing_gate.record_outcome(session, outcome="machine", at=_utc(now), attempt_id=attempt.id)
            leads.record_result(session, lead, leads.MACHINE, _utc(now))
        dialer.call_landed(r, campaign.id, call_sid)
        session.commit()
        return Step("message", text=drop or "")
    if attempt.outcome is not None:  # a retried webhook after the decision
        return _after_decision(r, attempt, campaign.identification_text, call_sid, now)
    if campaign.queue_id is None:
        return abandon(session, r, call_sid=call_sid, attempt_id=attempt.id, now=now)
    if not r.set(connect_key(call_sid), repr(now + connect_seconds), nx=True, ex=CONNECT_KEY_TTL_SECONDS):
        return connect_check(session, r, call_sid=call_sid, attempt_id=attempt.id, now=now)
    session.commit()  # the answer is recorded before the ACD can offer the call
    call = calls.get_call(session, call_sid)
    try:
        routing.enqueue_call(
            session, r, call_sid=call_sid, queue_id=campaign.queue_id, from_number=lead.phone_e164,
            contact_ids=[lead.contact_id], now=now, priority_boost=CAMPAIGN_PRIORITY_BOOST,
            payload={"call_sid": call_sid, "queue_name": campaign.queue.name if campaign.queue else None,
                     "campaign": {"id": campaign.id, "name": campaign.name, "lead_id": lead.id,
                                  "attempt_id": attempt.id, "custom_fields": dict(lead.custom_fields or {}),
                                  "script": campaigns.render_script(campaign, session.get(Contact, lead.contact_id),
                                                                    lead)}})
    except DomainError:
        return abandon(session, r, call_sid=call_sid, attempt_id=attempt.id, now=now)
    if call is not None:
        call.queue_id = campaign.queue_id
        calls.record_event(session, call, "enqueued", {"queue_id": campaign.queue_id, "campaign_id": campaign.id},
                           dedupe_key=f"enqueued:{call_sid}", occurred_at=_utc(now))
    session.commit()
    return connect_check(session, r, call_sid=call_sid, attempt_id=attempt.id, now=now)


def _deadline(r: redis.Redis, call_sid: str, now: float) -> float:
    raw = r.get(connect_key(call_sid))
    return float(raw) if raw else now


def _after_decision(r: redis.Redis, attempt: DialAttempt, identification: str, call_sid: str, now: float) -> Step:
    if attempt.outcome == "answered":
        return _joining(call_sid, now, _deadline(r, call_sid, now))
    return Step("message", text=identification or "")


def connect_check(session: Session, r: redis.Redis, *, call_sid: str, attempt_id: int | None, now: float) -> Step:
    """The callee waits for an agent: bridged already (join the conference), still within the deadline (wait
    on), or past it (abandoned: the identification message)."""
    found = _attempt(session, attempt_id, call_sid)
    if found is None:
        return Step("message")
    attempt, lead = found
    if attempt.outcome is not None:
        return _after_decision(r, attempt, lead.campaign.identification_text, call_sid, now)
    entry = acd.get_entry(r, call_sid)
    deadline = _deadline(r, call_sid, now)
    if entry is not None and entry.status == "connected":
        return _joining(call_sid, now, deadline)
    if entry is not None and now < deadline:
        return Step("wait", wait_seconds=max(math.ceil(deadline - now), 1))
    return abandon(session, r, call_sid=call_sid, attempt_id=attempt.id, now=now)


def _joining(call_sid: str, now: float, deadline: float) -> Step:
    """An agent has taken the call: their answer moves the callee into the conference by a redirect
    (services.agent_legs.answer), which interrupts this wait. Joining here too would put the callee in twice
    (leaving the first time ends the conference, the agent's leg with it), so only when no redirect came."""
    if now < deadline + BRIDGE_GRACE_SECONDS:
        return Step("wait", wait_seconds=BRIDGE_WAIT_SECONDS)
    return Step("bridged", conference=conference_name(call_sid))


def abandon(session: Session, r: redis.Redis, *, call_sid: str, attempt_id: int, now: float) -> Step:
    """No agent took the person we called in time: out of the queue (a ringing agent is released), the
    identification message, and an abandoned call on the record (the gate's lock-out starts); lead recycled."""
    finished = routing.finish_call(session, r, call_sid, now)
    if finished is not None and finished.status == "connected":  # an agent took it at this very moment
        return _joining(call_sid, now, now)
    found = _attempt(session, attempt_id, call_sid)
    if found is None:
        return Step("message")
    attempt, lead = found
    if attempt.outcome is None:
        dialing_gate.record_outcome(session, outcome="abandoned", at=_utc(now), attempt_id=attempt.id)
        leads.record_result(session, lead, leads.ABANDONED, _utc(now))
        call = calls.get_call(session, call_sid)
        if call is not None:
            calls.record_event(session, call, "abandoned", {"campaign_id": lead.campaign_id},
                               dedupe_key=f"abandoned:{call_sid}", occurred_at=_utc(now))
    dialer.call_landed(r, lead.campaign_id, call_sid)
    r.delete(connect_key(call_sid))
    session.commit()
    return Step("message", text=lead.campaign.identification_text or "")


def bridged(session: Session, r: redis.Redis, entry: QueueEntry, agent_id: int, now: float) -> None:
    """An agent picked up a campaign callee (called by services.agent_legs): answered, the lead connected to
    them until their disposition. No commit (the agent's answer commits)."""
    campaign = entry.payload.get("campaign") or {}
    found = _attempt(session, campaign.get("attempt_id"), entry.entry_id)
    if found is None:
        return
    attempt, lead = found
    if attempt.outcome is None:
        dialing_gate.record_outcome(session, outcome="answered", at=_utc(now), attempt_id=attempt.id)
        leads.record_result(session, lead, leads.HUMAN_BRIDGED, _utc(now), agent_id=agent_id)
    dialer.call_landed(r, lead.campaign_id, entry.entry_id)  # the connect deadline stays: see _joining


# Final statuses of a call that was never answered, as the lead's result.
UNANSWERED = {"no-answer": leads.NO_ANSWER, "busy": leads.BUSY, "failed": leads.CALL_FAILED,
              "canceled": leads.NO_ANSWER}


def call_status(session: Session, r: redis.Redis, params: Mapping[str, str], *, attempt_id: int | None,
                received_at: datetime) -> None:
    """A campaign call's progress callback (repeated, out of order): appended to the call's log as any other;
    once it ended, out of the ACD (its agent to wrap-up) and, if nothing decided the attempt yet, its outcome:
    unanswered → recycled; answered and hung up before an agent came → abandoned. A preview call (the agent
    dialled it) answered is the agent talking to the lead."""
    call = calls.apply_status_callback(session, params, received_at=received_at)
    status = calls.normalise_status(params.get("CallStatus"))
    found = _attempt(session, attempt_id, call.call_sid)
    if found is not None and found[0].path == "preview" and status == "in-progress" and found[0].outcome is None:
        attempt, lead = found
        dialing_gate.record_outcome(session, outcome="answered", at=received_at, attempt_id=attempt.id)
        leads.record_result(session, lead, leads.HUMAN_BRIDGED, received_at, agent_id=attempt.actor_id)
        session.commit()
    if status not in calls.TERMINAL_STATUSES:
        return
    caller_steps.call_ended(session, r, call.call_sid)
    if found is None:
        return
    attempt, lead = found
    if attempt.outcome is None:
        if status in UNANSWERED:
            dialing_gate.record_outcome(session, outcome=status if status != "canceled" else "no-answer",
                                        at=received_at, attempt_id=attempt.id)
            leads.record_result(session, lead, UNANSWERED[status], received_at)
        else:  # answered, and gone before an agent was there
            dialing_gate.record_outcome(session, outcome="abandoned", at=received_at, attempt_id=attempt.id)
            leads.record_result(session, lead, leads.ABANDONED, received_at)
    dialer.call_landed(r, lead.campaign_id, call.call_sid)
    r.delete(connect_key(call.call_sid))
    session.commit()
