"""The dialer: places a campaign's calls — preview (the agent sees the lead first), progressive and predictive.

Progressive and predictive (`dial_campaign`, run every second by workers.dialer): ask `lines_to_place` how many
lines to open now, claim that many leads (services.leads), and for each one take a slot of the carrier's
calls-per-second budget (`take_dial_slot`, shared by every process through Redis), ask the dialing gate
(`dialing_gate.require`, path = the campaign's mode, its reason for placing the call stored on the attempt's
`placed_because`), and place the call through the provider with answering-machine detection and the campaign's
caller ID. What happens once the carrier answers is services.campaign_calls.

Preview: `reserve_preview` puts one lead on an agent's screen (`reserved` for them); `dial_preview` places it as
a REST call to the agent's softphone that, once the agent picks up, dials the lead from the campaign's caller ID
(the agent hears it ring, as with click-to-call; no machine detection: the agent is on the line and deals with a
machine themselves); `skip_preview` puts it back. The REST way, not the softphone's own `device.connect`, keeps
every step (gate, attempt, caller ID, status callbacks) on the server, where a console cannot leave one out.

The provider and a `webhook_url(path, **query)` builder are passed in, as for services.call_control: nothing
here knows whether the carrier is Twilio or the emulator.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

import redis
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from callcenter.models import Call, Campaign, CampaignAgent, CampaignContact, DialAttempt, User
from callcenter.services import (
    agent_state,
    calls,
    dialing_gate,
    leads,
    metrics,
    outbound_calls,
    pacer,
    routing_trace,
)
from callcenter.services.errors import Conflict, Forbidden, NotFound
from callcenter.services.interactions import agent_identity
from callcenter.services.messages import t
from callcenter.telephony.base import ALL_CALL_EVENTS, Provider, TelephonyError

AUTO_MODES = ("progressive", "predictive")
DEFAULT_RING_TIMEOUT_SECONDS = 25
# A placed call is counted as "in flight" (ringing, or answered and not yet with an agent) at most this long after
# its ring timeout, in case its final status callback never comes.
IN_FLIGHT_GRACE_SECONDS = 60
CPS_KEY = "cc:dialer:cps"
PACING_TTL_SECONDS = 3600
# Calls record talk time; the pacer plans with handle time. Until wrap-up is logged per campaign call, this much
# after-call work is assumed on top (the demo queues' wrap-up is 30 s).
WRAP_UP_ESTIMATE_SECONDS = 30
MACHINE_DETECTION_WITH_DROP = "DetectMessageEnd"  # wait for the beep, so the message is recorded whole
MACHINE_DETECTION = "Enable"  # answer as soon as a human is heard


class WebhookUrl(Protocol):
    """Builds the absolute URL of a voice webhook under /ivr (`/campaign/answer`, ...) with its query."""

    def __call__(self, path: str, **query: Any) -> str: ...


# --- The carrier's calls-per-second budget ----------------------------------------------------------------------

# A sliding one-second window shared by every process: drop stamps older than a second, then take a slot only
# while fewer than the limit remain. Atomic, so two dialers never both take the last slot.
_TAKE_SLOT = """
local key, now, limit, member = KEYS[1], tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3]
redis.call('ZREMRANGEBYSCORE', key, '-inf', now - 1)
if redis.call('ZCARD', key) >= limit then return 0 end
redis.call('ZADD', key, now, member)
redis.call('PEXPIRE', key, 2000)
return 1
"""


def take_dial_slot(r: redis.Redis, calls_per_second: float, now: float | None = None, key: str = CPS_KEY) -> bool:
    """Take one of the carrier's call slots for this second (DIAL_CALLS_PER_SECOND, Twilio's default 1); False
    when the last second already had that many calls placed: the dialer stops and tries again next second."""
    now = time.time() if now is None else now
    limit = max(int(calls_per_second), 1)
    member = uuid.uuid4().hex  # unique across processes: a repeated member would count one call for two
    return bool(r.eval(_TAKE_SLOT, 1, key, repr(now), limit, member))


# --- Lines in flight --------------------------------------------------------------------------------------------


def in_flight_key(campaign_id: int) -> str:
    return f"cc:dialer:{campaign_id}:in_flight"


def pacing_key(campaign_id: int) -> str:
    return f"cc:dialer:{campaign_id}:pacing"


def _landed_key(call_sid: str) -> str:
    return f"cc:dialer:landed:{call_sid}"


# The carrier may answer (and a machine be detected) before the dialer gets round to counting the call it placed:
# a call that landed already is not counted again. Atomic against call_landed's marker-then-remove.
_COUNT_UNLESS_LANDED = """
if redis.call('EXISTS', KEYS[2]) == 1 then return 0 end
redis.call('ZADD', KEYS[1], ARGV[1], ARGV[2])
return 1
"""


def call_in_flight(r: redis.Redis, campaign_id: int, call_sid: str, now: float) -> None:
    """A placed call rings (or waits for an agent): it holds one of the lines the pacing counts, unless it has
    landed already."""
    r.eval(_COUNT_UNLESS_LANDED, 2, in_flight_key(campaign_id), _landed_key(call_sid), repr(now), call_sid)


def call_landed(r: redis.Redis, campaign_id: int, call_sid: str) -> None:
    """The call is with an agent, with a machine, or over: its line is free for pacing. The mark outlives the
    longest a call is counted, so a late call_in_flight for it counts nothing."""
    with r.pipeline() as pipe:
        pipe.set(_landed_key(call_sid), 1, ex=DEFAULT_RING_TIMEOUT_SECONDS + IN_FLIGHT_GRACE_SECONDS)
        pipe.zrem(in_flight_key(campaign_id), call_sid)
        pipe.execute()


def lines_in_flight(r: redis.Redis, campaign_id: int, now: float,
                    ring_timeout_seconds: int = DEFAULT_RING_TIMEOUT_SECONDS) -> int:
    """Calls of the campaign ringing or answered and not yet with an agent (lost ones age out)."""
    key = in_flight_key(campaign_id)
    r.zremrangebyscore(key, "-inf", now - ring_timeout_seconds - IN_FLIGHT_GRACE_SECONDS)
    return int(r.zcard(key))


# --- How many lines now -----------------------------------------------------------------------------------------


def campaign_agent_ids(session: Session, campaign: Campaign) -> list[int]:
    """Active agents assigned to the campaign by name or through its team."""
    named = select(CampaignAgent.user_id).where(CampaignAgent.campaign_id == campaign.id)
    query = select(User.id).where(User.active.is_(True), User.id.in_(named))
    if campaign.team_id is not None:
        query = select(User.id).where(User.active.is_(True),
                                      (User.id.in_(named)) | (User.team_id == campaign.team_id))
    return sorted(session.scalars(query))


def idle_agents(r: redis.Redis, agent_ids: Sequence[int]) -> int:
    """How many of `agent_ids` could take a call now (available, reachable, not holding an offer)."""
    return sum(1 for agent_id in agent_ids if agent_state.get_presence(r, agent_id).offerable)


@dataclass(frozen=True)
class LinesDecision:
    """How many calls to place now and why (the reason is stored on each attempt's `placed_because`)."""

    lines: int
    reason: str
    idle_agents: int
    in_flight: int
    lines_per_agent: float
    predicted_abandon_rate: float | None = None
    # What the decision looked at (agents free, lines in flight, answer and abandon rates...), for the call's trace.
    inputs: dict[str, Any] = field(default_factory=dict)


Pace = Callable[[pacer.PacerInputs], pacer.PacerDecision]


def lines_to_place(session: Session, r: redis.Redis, campaign: Campaign, now: float,
                   ring_timeout_seconds: int = DEFAULT_RING_TIMEOUT_SECONDS, pace: Pace | None = None
                   ) -> LinesDecision:
    """The one place the dialer asks "how many lines now".

    Progressive: one line per idle campaign agent, minus the lines already in flight. Predictive: what
    services.pacer decides from the agents free now and soon, the lines ringing, the campaign's rolling answer and
    abandon rates and handle time, and its abandon target (docs/pacer.md)."""
    agent_ids = campaign_agent_ids(session, campaign)
    idle = idle_agents(r, agent_ids)
    flying = lines_in_flight(r, campaign.id, now, ring_timeout_seconds)
    if campaign.mode == "predictive":
        seen = pacer_inputs(session, r, campaign, agent_ids, idle, now, ring_timeout_seconds)
        paced = (pace or pacer.decide)(seen)
        decision = LinesDecision(paced.lines_to_dial, str(paced.reason), idle, flying, paced.lines_per_agent,
                                 paced.predicted_abandon_rate, {
                                     "agents_free": idle, "agents_busy": len(seen.busy_remaining_seconds),
                                     "lines_in_flight": flying, "dials": seen.stats.dials,
                                     "answer_rate": seen.stats.answer_rate, "abandon_rate": seen.actual_abandon_rate,
                                     "abandon_target": seen.abandon_target, "lines_per_agent": paced.lines_per_agent,
                                     "predicted_abandon_rate": paced.predicted_abandon_rate,
                                     "lines_to_dial": paced.lines_to_dial})
    elif campaign.mode == "progressive":
        lines = max(idle - flying, 0)
        reason = f"progressive: {idle} idle agent(s), {flying} line(s) in flight -> {lines} new"
        decision = LinesDecision(lines, reason, idle, flying, 1.0, 0.0, {
            "agents_free": idle, "lines_in_flight": flying, "lines_per_agent": 1.0, "lines_to_dial": lines})
    else:
        decision = LinesDecision(0, f"{campaign.mode}: the agent dials", idle, flying, 0.0)
    r.set(pacing_key(campaign.id), json.dumps({
        "lines_per_agent": decision.lines_per_agent, "predicted_abandon_rate": decision.predicted_abandon_rate,
        "reason": decision.reason, "at": now}), ex=PACING_TTL_SECONDS)
    return decision


def dial_stats(session: Session, campaign: Campaign, now: float) -> pacer.DialStats:
    """The campaign's dials over its rolling `abandon_window_days`: how many were placed, answered by a person,
    by a machine, abandoned; the mean handle time of its answered calls."""
    since = datetime.fromtimestamp(now - campaign.abandon_window_days * 86400, UTC)
    counts = dict(session.execute(
        select(DialAttempt.outcome, func.count()).where(
            DialAttempt.campaign_id == campaign.id, DialAttempt.allowed.is_(True), DialAttempt.at >= since)
        .group_by(DialAttempt.outcome)).all())
    handle = session.scalar(select(func.avg(Call.duration_seconds)).where(
        Call.campaign_id == campaign.id, Call.agent_answered_at.is_not(None), Call.duration_seconds.is_not(None),
        Call.agent_answered_at >= since))
    return pacer.DialStats(
        dials=sum(counts.values()), live_answers=counts.get("answered", 0) + counts.get("abandoned", 0),
        machines=counts.get("machine", 0), abandoned=counts.get("abandoned", 0),
        mean_handle_seconds=float(handle) + WRAP_UP_ESTIMATE_SECONDS if handle else None)


def pacer_inputs(session: Session, r: redis.Redis, campaign: Campaign, agent_ids: Sequence[int], idle: int,
                 now: float, ring_timeout_seconds: int = DEFAULT_RING_TIMEOUT_SECONDS) -> pacer.PacerInputs:
    """What the pacer needs, read from Redis (agents, lines ringing and their ages) and the dial log."""
    stats = dial_stats(session, campaign, now)
    busy: list[float | None] = []
    for agent_id in agent_ids:
        presence = agent_state.get_presence(r, agent_id)
        if presence.state in (agent_state.ON_CALL, agent_state.WRAP_UP):
            elapsed = now - presence.since if presence.since else None
            busy.append(None if stats.mean_handle_seconds is None or elapsed is None
                        else max(stats.mean_handle_seconds - elapsed, 0.0))
    placed = r.zrangebyscore(in_flight_key(campaign.id), now - ring_timeout_seconds - IN_FLIGHT_GRACE_SECONDS,
                             "+inf", withscores=True)
    actual = stats.abandoned / stats.live_answers if stats.live_answers else None
    return pacer.PacerInputs(
        mode="predictive", agents_available=idle, busy_remaining_seconds=tuple(busy), lines_ringing=len(placed),
        ringing_seconds=tuple(max(now - score, 0.0) for _, score in placed), stats=stats,
        abandon_target=min(max(float(campaign.max_abandon_rate), 0.0), 0.99), actual_abandon_rate=actual)


def last_pacing(r: redis.Redis, campaign_id: int) -> dict[str, Any] | None:
    """The dialer's last decision for the campaign (shown on the wallboard)."""
    raw = r.get(pacing_key(campaign_id))
    return json.loads(raw) if raw else None


# --- Placing the calls ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DialSettings:
    """What the edge reads from settings for the dialer."""

    caller_id: str
    calls_per_second: float = 1.0
    ring_timeout_seconds: int = DEFAULT_RING_TIMEOUT_SECONDS
    rules: dialing_gate.DialRules | None = None
    # The TwiML (a string) that puts a leg into a conference: `join_twiml(name, end_on_exit)` (preview only).
    join_twiml: Callable[[str, bool], str] | None = None
    # How predictive campaigns are paced: services.pacer.decide unless a test puts a fixed policy in its place.
    pace: Pace | None = None


@dataclass(frozen=True)
class Placed:
    """One lead the dialer took: its call's CallSid, or why no call was placed."""

    lead_id: int
    call_sid: str | None = None
    attempt_id: int | None = None
    refused: str | None = None
    error: str | None = None


@dataclass(frozen=True)
class DialRun:
    decision: LinesDecision
    placed: list[Placed]
    throttled: bool = False


def dial_campaign(session: Session, r: redis.Redis, provider: Provider, campaign: Campaign, now: datetime,
                  urls: WebhookUrl, settings: DialSettings) -> DialRun:
    """One pass of the automatic dialer for a running progressive or predictive campaign (idempotent: a second
    run in the same second finds the lines already in flight and the CPS budget spent)."""
    epoch = now.timestamp()
    if campaign.status != "running" or campaign.mode not in AUTO_MODES:
        return DialRun(LinesDecision(0, f"campaign {campaign.status} ({campaign.mode})", 0, 0, 0.0), [])
    leads.release_stale_claims(session, campaign, now)
    decision = lines_to_place(session, r, campaign, epoch, settings.ring_timeout_seconds, settings.pace)
    if decision.lines <= 0:
        session.commit()
        return DialRun(decision, [])
    claimed = leads.next_leads(session, campaign, now, decision.lines)
    done: list[Placed] = []
    throttled = False
    for index, lead in enumerate(claimed):
        if not take_dial_slot(r, settings.calls_per_second, epoch):
            throttled = True
            for left in claimed[index:]:  # not dialled this second: back in line, no attempt counted
                left.status = leads.PENDING
            session.commit()
            break
        done.append(_place(session, r, provider, campaign, lead, now, urls, settings, decision.reason,
                           path=campaign.mode, inputs=decision.inputs))
    return DialRun(decision, done, throttled)


def _place(session: Session, r: redis.Redis, provider: Provider, campaign: Campaign, lead: CampaignContact,
           now: datetime, urls: WebhookUrl, settings: DialSettings, reason: str, *, path: str,
           agent: User | None = None, inputs: dict[str, Any] | None = None) -> Placed:
    """Gate, then the carrier: the attempt row keeps the lead, the reason and (once placed) the CallSid.

    Without `agent`, the lead is dialled with answering-machine detection and the answer decides (see
    services.campaign_calls); with one (preview), the agent's softphone and the lead meet in a new conference,
    as with click-to-call."""
    try:
        gate = dialing_gate.require(session, lead.phone_e164, actor=agent, campaign=campaign, now=now,
                                    path=path, rules=settings.rules)
    except dialing_gate.DialRefused as refusal:
        attempt = session.get(DialAttempt, refusal.decision.attempt_id) if refusal.decision.attempt_id else None
        if attempt is not None:
            attempt.campaign_contact_id, attempt.placed_because = lead.id, reason
        leads.refused(session, lead, refusal.decision, now)
        session.commit()
        return Placed(lead.id, refused=refusal.decision.reason)
    attempt = session.get(DialAttempt, gate.attempt_id)
    assert attempt is not None
    attempt.campaign_contact_id, attempt.placed_because = lead.id, reason
    leads.placed(lead, now)
    session.commit()
    query = {"campaign": campaign.id, "attempt": attempt.id}
    caller_id = campaign.caller_id or settings.caller_id
    conference = None
    try:
        if agent is None:
            sid = provider.place_call(
                to=lead.phone_e164, from_=caller_id,
                url=urls("/campaign/answer", **query), status_callback=urls("/campaign/status", **query),
                status_callback_events=ALL_CALL_EVENTS,
                machine_detection=MACHINE_DETECTION_WITH_DROP if campaign.voicemail_drop_text else MACHINE_DETECTION,
                timeout=settings.ring_timeout_seconds).sid
        else:
            conference = f"campaign-{campaign.id}-{lead.id}-{attempt.id}"
            provider.place_call(f"client:{agent_identity(agent.id)}", caller_id,
                                twiml=settings.join_twiml(conference, True), timeout=30)
            sid = provider.add_participant(
                conference, from_=caller_id, to=lead.phone_e164, label="customer", end_conference_on_exit=True,
                timeout=settings.ring_timeout_seconds, status_callback=urls("/campaign/status", **query),
                status_callback_events=ALL_CALL_EVENTS).call_sid
    except TelephonyError as exc:
        dialing_gate.record_outcome(session, outcome="failed", at=now, attempt_id=attempt.id)
        leads.record_result(session, lead, leads.CALL_FAILED, now)
        session.commit()
        return Placed(lead.id, attempt_id=attempt.id, error=exc.message)
    dialing_gate.attach_call(session, attempt.id, sid)
    session.commit()
    call = calls.open_call(session, call_sid=sid, direction="outbound-api", from_number=caller_id,
                           to_number=lead.phone_e164, occurred_at=now)
    call.campaign_id, call.contact_id, call.queue_id = campaign.id, lead.contact_id, campaign.queue_id
    if agent is not None:
        call.agent_id, call.conference_name = agent.id, conference
    routing_trace.record_dial(session, call_sid=sid, campaign_id=campaign.id, mode=path, at=now, reason=reason,
                              inputs=inputs or {}, queue_id=campaign.queue_id, agent_id=agent.id if agent else None)
    session.commit()
    if agent is None:
        call_in_flight(r, campaign.id, sid, now.timestamp())
    else:  # as a click-to-call: on the call until it ends, then wrap-up (a leg already gone is ended here)
        outbound_calls.agent_on_call(session, r, agent.id, sid)
        if calls.current_values(session, call).get("status") in calls.TERMINAL_STATUSES:
            outbound_calls.call_ended(session, r, sid)
        session.commit()
    return Placed(lead.id, call_sid=sid, attempt_id=attempt.id)


def any_running_auto_campaign(session: Session) -> bool:
    """Whether the automatic dialer has any work (the ticker enqueues its pass only then)."""
    return session.scalar(select(Campaign.id).where(Campaign.status == "running", Campaign.mode.in_(AUTO_MODES))
                          .limit(1)) is not None


def running_auto_campaigns(session: Session) -> list[Campaign]:
    """Campaigns the automatic dialer works on now."""
    return list(session.scalars(select(Campaign).where(Campaign.status == "running",
                                                       Campaign.mode.in_(AUTO_MODES)).order_by(Campaign.id)))


# --- Preview ----------------------------------------------------------------------------------------------------


def _assigned(session: Session, campaign: Campaign, agent: User) -> None:
    if agent.id not in campaign_agent_ids(session, campaign):
        raise Forbidden(t("You are not assigned to this campaign"), field="campaign_id")


def reserve_preview(session: Session, campaign: Campaign, agent: User, now: datetime) -> CampaignContact | None:
    """The next lead for the agent to look at before dialling (their own callbacks first); the one they already
    hold, if any. None when the campaign has nothing due. Leads other agents left on their screens too long are
    put back in line first, so a lead is never stuck with an agent who went home."""
    _assigned(session, campaign, agent)
    if campaign.status != "running":
        raise Conflict(t("This campaign is not running"), field="campaign_id")
    leads.release_stale_reservations(session, campaign, now, keep_agent_id=agent.id)
    held = session.scalar(select(CampaignContact).where(
        CampaignContact.campaign_id == campaign.id, CampaignContact.status == leads.RESERVED,
        CampaignContact.agent_id == agent.id).limit(1))
    return held or leads.reserve(session, campaign, agent.id, now)


def preview_campaigns(session: Session, agent: User) -> list[Campaign]:
    """The running preview campaigns the agent works (by name or through their team)."""
    running = session.scalars(select(Campaign).where(Campaign.status == "running", Campaign.mode == "preview")
                              .order_by(Campaign.name))
    return [campaign for campaign in running if agent.id in campaign_agent_ids(session, campaign)]


def preview_campaign(session: Session, agent: User, campaign_id: int) -> Campaign:
    campaign = session.get(Campaign, campaign_id)
    if campaign is None or campaign.mode != "preview":
        raise NotFound(t("Campaign %(campaign_id)s not found", campaign_id=campaign_id), field="campaign_id")
    return campaign


def _reserved_lead(session: Session, agent: User, lead_id: int) -> CampaignContact:
    lead = session.get(CampaignContact, lead_id)
    if lead is None:
        raise NotFound(t("Lead %(lead_id)s not found", lead_id=lead_id), field="lead_id")
    if lead.status != leads.RESERVED or lead.agent_id != agent.id:
        raise Conflict(t("This lead is not on your screen any more"), field="lead_id")
    return lead


def dial_preview(session: Session, r: redis.Redis, provider: Provider, *, agent: User, lead_id: int,
                 now: datetime, urls: WebhookUrl, settings: DialSettings) -> Placed:
    """The agent dials the lead on their screen: the gate decides (DialRefused says why, and the lead is put off
    or blocked); then, as with click-to-call, the agent is set away ("outbound") so the ACD offers them nothing
    meanwhile, and their softphone and the lead meet in a new conference."""
    lead = _reserved_lead(session, agent, lead_id)
    presence = agent_state.get_presence(r, agent.id)
    if presence.state in (agent_state.RESERVED, agent_state.ON_CALL) or presence.current_call:
        raise Conflict(t("Finish the current call first"), field="state")
    if settings.join_twiml is None:
        raise ValueError("dial_preview needs settings.join_twiml")
    went_away = presence.state != agent_state.AWAY or presence.reason != "outbound"
    if went_away:  # before the call: the ACD must not offer them a queue call meanwhile
        if presence.state == agent_state.OFFLINE:
            agent_state.login(session, r, agent.id, state=agent_state.AWAY, reason="outbound")
        else:
            agent_state.change_state(session, r, agent.id, agent_state.AWAY, reason="outbound")
        session.commit()
    placed = _place(session, r, provider, lead.campaign, lead, now, urls, settings,
                    f"preview: dialled by agent {agent.id}", path="preview", agent=agent)
    if (placed.refused or placed.error) and went_away and presence.state == agent_state.AVAILABLE:
        agent_state.change_state(session, r, agent.id, agent_state.AVAILABLE)
        session.commit()
    if placed.refused is not None:
        raise dialing_gate.DialRefused(dialing_gate.DialDecision(
            False, lead.phone_e164, placed.refused, dialing_gate.reason_message(placed.refused)))
    if placed.error is not None:
        raise Conflict(t("The call could not be placed: %(message)s", message=placed.error))
    return placed


def skip_preview(session: Session, *, agent: User, lead_id: int, now: datetime) -> CampaignContact:
    """The agent passes on the lead: it goes back in line after the campaign's retry delay, no attempt counted."""
    lead = _reserved_lead(session, agent, lead_id)
    leads.unreserve(lead, now, lead.campaign.retry_minutes)
    session.commit()
    return lead


# --- Figures for the wallboard ----------------------------------------------------------------------------------


def campaign_figures(session: Session, r: redis.Redis, campaign: Campaign, now: float) -> dict[str, Any]:
    """A running campaign on the wallboard: mode, pacing (lines per agent, predicted abandon rate), lines in
    flight, and over the rolling `abandon_window_days`: live answers, abandoned calls and their rate (abandoned
    / live answers, live = a human answered), machines."""
    since = datetime.fromtimestamp(now - campaign.abandon_window_days * 86400, UTC)
    counts = dict(session.execute(
        select(DialAttempt.outcome, func.count()).where(
            DialAttempt.campaign_id == campaign.id, DialAttempt.allowed.is_(True), DialAttempt.at >= since)
        .group_by(DialAttempt.outcome)).all())
    figures = metrics.campaign_figures_from_counts(counts)  # the reports' formulas, over the rolling window
    pacing = last_pacing(r, campaign.id) or {}
    return {
        "campaign_id": campaign.id,
        "name": campaign.name,
        "mode": campaign.mode,
        "lines_per_agent": pacing.get("lines_per_agent"),
        "lines_ringing": lines_in_flight(r, campaign.id, now),
        "predicted_abandon_rate": pacing.get("predicted_abandon_rate"),
        "abandon_rate": figures.abandon_rate,
        "max_abandon_rate": campaign.max_abandon_rate,
        "live_answers": figures.live_answers,
        "abandoned": figures.abandoned,
        "machines": figures.machines,
        "dials": figures.dials,
        "pacing_reason": pacing.get("reason"),
    }


def running_campaigns_figures(session: Session, r: redis.Redis, now: float) -> list[dict[str, Any]]:
    campaigns = session.scalars(select(Campaign).where(Campaign.status == "running").order_by(Campaign.name))
    return [campaign_figures(session, r, c, now) for c in campaigns]
