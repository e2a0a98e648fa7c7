"""A campaign's leads through their life: taken in order, dialled, recycled or closed.

    pending ──next_leads──▶ dialing ──carrier result──▶ pending (retry later) | failed (attempts used up)
       │                       │  └─human bridged──▶ connected ──disposition──▶ done | pending | pending (owned)
       └─reserve (preview)──▶ reserved ──dial / skip / left 30 min──▶ dialing | pending
    a gate refusal ──▶ blocked (for good: DNC, invalid number...) | pending later (calling window, lock-out, cap)

Ordering: priority first (higher first), then the time the lead fell due, then its id (list order). Claiming
takes the lead out of `pending` in the same transaction that chose it, so two dialer runs never take the same
lead: on PostgreSQL the candidate rows are locked `FOR UPDATE SKIP LOCKED` (a concurrent run skips them), and
on both databases each claim is a compare-and-set (`UPDATE ... WHERE status = 'pending'`), which on SQLite, with
its single writer, is what makes it exclusive.

Nothing here commits but `next_leads` / `reserve` (a claim must be visible before the call is placed); the other
steps leave the commit to the service that calls them.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from callcenter.models import Call, Campaign, CampaignContact, CampaignDisposition, DialAttempt, Disposition
from callcenter.services import dialing_gate

PENDING, RESERVED, DIALING, CONNECTED = "pending", "reserved", "dialing", "connected"
DONE, FAILED, BLOCKED = "done", "failed", "blocked"
FINAL_STATUSES = frozenset({DONE, FAILED, BLOCKED})

# Carrier results `record_result` knows; all but HUMAN_BRIDGED recycle the lead.
NO_ANSWER, BUSY, CALL_FAILED, MACHINE, ABANDONED, HUMAN_BRIDGED = (
    "no-answer", "busy", "failed", "machine", "abandoned", "human-bridged")
RESULTS = (NO_ANSWER, BUSY, CALL_FAILED, MACHINE, ABANDONED, HUMAN_BRIDGED)

# A lead claimed this long ago and still "dialing" lost its dialer (a process died between claim and call).
STALE_CLAIM = timedelta(minutes=15)
# A lead on a preview agent's screen this long without a dial or a skip was left there (the agent logged out, closed
# the tab, went home): another agent's "next" puts it back in line.
STALE_RESERVATION = timedelta(minutes=30)
# When a temporary refusal gives no better date (a daily cap), the lead is tried again this much later.
REFUSED_RETRY = timedelta(hours=1)


def _due_leads(campaign: Campaign, now: datetime, owner_agent_id: int | None):
    query = select(CampaignContact.id).where(
        CampaignContact.campaign_id == campaign.id, CampaignContact.status == PENDING,
        or_(CampaignContact.next_attempt_at.is_(None), CampaignContact.next_attempt_at <= now))
    if owner_agent_id is None:
        query = query.where(CampaignContact.owner_agent_id.is_(None))
    else:
        query = query.where(CampaignContact.owner_agent_id == owner_agent_id)
    # NULL due times (never scheduled: a fresh list) sort first on both databases.
    return query.order_by(CampaignContact.priority.desc(), CampaignContact.next_attempt_at.is_not(None),
                          CampaignContact.next_attempt_at, CampaignContact.id)


def next_leads(session: Session, campaign: Campaign, now: datetime, limit: int, *, status: str = DIALING,
               agent_id: int | None = None, owner_agent_id: int | None = None) -> list[CampaignContact]:
    """Claim up to `limit` due pending leads, best first, and commit the claim (status `dialing`, or `reserved`
    for a preview agent `agent_id`). Leads a callback gave to an agent (`owner_agent_id`) are taken only by that
    agent's preview (pass their id); the automatic dialer never takes them."""
    if limit <= 0:
        return []
    candidates = list(session.scalars(
        _due_leads(campaign, now, owner_agent_id).limit(limit).with_for_update(skip_locked=True)))
    claimed: list[int] = []
    for lead_id in candidates:
        result = session.execute(
            update(CampaignContact).where(CampaignContact.id == lead_id, CampaignContact.status == PENDING)
            .values(status=status, agent_id=agent_id, last_attempt_at=now)
            .execution_options(synchronize_session=False))
        if result.rowcount == 1:
            claimed.append(lead_id)
    session.commit()
    if not claimed:
        return []
    leads = {lead.id: lead for lead in session.scalars(select(CampaignContact).where(
        CampaignContact.id.in_(claimed)))}
    for lead in leads.values():
        session.refresh(lead)
    return [leads[i] for i in claimed if i in leads]


def release_stale_claims(session: Session, campaign: Campaign, now: datetime) -> int:
    """Leads left `dialing` by a dialer that died before placing their call go back to pending (no commit)."""
    result = session.execute(
        update(CampaignContact).where(
            CampaignContact.campaign_id == campaign.id, CampaignContact.status == DIALING,
            CampaignContact.last_attempt_at < now - STALE_CLAIM,
            ~select(DialAttempt.id).where(DialAttempt.campaign_contact_id == CampaignContact.id,
                                          DialAttempt.allowed.is_(True), DialAttempt.outcome.is_(None),
                                          DialAttempt.at >= now - STALE_CLAIM).exists())
        .values(status=PENDING).execution_options(synchronize_session=False))
    return result.rowcount or 0


def release_stale_reservations(session: Session, campaign: Campaign, now: datetime, *, keep_agent_id: int) -> int:
    """Leads other agents reserved more than STALE_RESERVATION ago and never dialled or skipped go back to pending,
    no attempt counted; `keep_agent_id`'s own lead stays theirs (no commit)."""
    result = session.execute(
        update(CampaignContact).where(
            CampaignContact.campaign_id == campaign.id, CampaignContact.status == RESERVED,
            CampaignContact.agent_id != keep_agent_id, CampaignContact.last_attempt_at < now - STALE_RESERVATION)
        .values(status=PENDING, agent_id=None).execution_options(synchronize_session=False))
    return result.rowcount or 0


def placed(lead: CampaignContact, now: datetime) -> None:
    """The gate allowed the lead and its call is being placed: one more attempt (no commit)."""
    lead.status = DIALING
    lead.attempts = (lead.attempts or 0) + 1
    lead.last_attempt_at = now


def _recycle(lead: CampaignContact, campaign: Campaign, now: datetime, after_minutes: int | None = None) -> None:
    """Back in line after `after_minutes` (the campaign's retry delay by default), or failed once every attempt
    the campaign allows has been made."""
    lead.agent_id = None
    if (lead.attempts or 0) >= campaign.max_attempts:
        lead.status = FAILED
        lead.next_attempt_at = None
        return
    lead.status = PENDING
    minutes = campaign.retry_minutes if after_minutes is None else after_minutes
    lead.next_attempt_at = now + timedelta(minutes=minutes)


def record_result(session: Session, lead: CampaignContact, result: str, now: datetime,
                  agent_id: int | None = None) -> CampaignContact:
    """What the carrier said of the lead's call: a human bridged to `agent_id` waits for the agent's
    disposition (`connected`); anything else recycles the lead (no commit)."""
    if result not in RESULTS:
        raise ValueError(f"unknown result {result!r}")
    lead.last_result = result
    if lead.status in FINAL_STATUSES:
        return lead  # a late callback for a lead someone already closed
    if result == HUMAN_BRIDGED:
        lead.status = CONNECTED
        lead.agent_id = agent_id
        return lead
    _recycle(lead, lead.campaign, now)
    return lead


def refused(session: Session, lead: CampaignContact, decision: dialing_gate.DialDecision,
            now: datetime) -> CampaignContact:
    """The dialing gate said no: `blocked` for good (do-not-call, invalid or forbidden number, no consent),
    `failed` when the campaign's attempts are used up, else put off until the refusal no longer applies (the
    callee's next calling window, the end of the lock-out). No commit."""
    lead.agent_id = None
    lead.last_result = f"refused:{decision.reason}"
    if decision.reason == dialing_gate.CAMPAIGN_CAP:
        lead.status, lead.next_attempt_at = FAILED, None
        return lead
    if decision.reason not in dialing_gate.TEMPORARY_REASONS:
        lead.status, lead.next_attempt_at = BLOCKED, None
        return lead
    later: datetime | None = None
    if decision.reason == dialing_gate.OUTSIDE_CALLING_WINDOW:
        start, end = dialing_gate.parse_window(f"{lead.campaign.calling_hours_start}-"
                                               f"{lead.campaign.calling_hours_end}")
        # The campaign's own hours are the window the gate applied (dialing_gate.evaluate).
        later = dialing_gate.next_window_opening(lead.phone_e164, now,
                                                 dialing_gate.DialRules(window_start=start, window_end=end))
    elif decision.reason == dialing_gate.ABANDON_LOCKOUT and decision.details.get("until"):
        later = datetime.fromisoformat(decision.details["until"])
    lead.status = PENDING
    lead.next_attempt_at = later or now + REFUSED_RETRY
    return lead


def lead_of_call(session: Session, call_sid: str) -> CampaignContact | None:
    """The lead a campaign call was placed for (through the gate's record of the attempt)."""
    lead_id = session.scalar(select(DialAttempt.campaign_contact_id).where(
        DialAttempt.call_sid == call_sid, DialAttempt.campaign_contact_id.is_not(None))
        .order_by(DialAttempt.id.desc()).limit(1))
    return session.get(CampaignContact, lead_id) if lead_id is not None else None


def apply_disposition(session: Session, call: Call, code: str, now: datetime) -> CampaignContact | None:
    """The agent's disposition after a campaign call decides the lead's fate, by the campaign's rule for it:
    `final` closes it (done); `retry` puts it back in line after the rule's minutes (the campaign's retry delay by
    default; failed once attempts are used up); `callback` keeps it for the agent who booked it (`owner_agent_id`),
    due after the rule's minutes. A disposition the campaign has no rule for is final. Returns the lead, None when
    the call is not a campaign call. No commit (the wrap-up's transaction)."""
    lead = lead_of_call(session, call.call_sid)
    if lead is None:
        return None
    lead.last_disposition = code[:40]
    rule = session.scalar(select(CampaignDisposition).join(Disposition).where(
        CampaignDisposition.campaign_id == lead.campaign_id, Disposition.code == code))
    outcome = rule.outcome if rule is not None else "final"
    if outcome == "final":
        lead.status, lead.next_attempt_at = DONE, None
    elif outcome == "retry":
        _recycle(lead, lead.campaign, now, rule.retry_after_minutes if rule is not None else None)
    else:
        minutes = rule.retry_after_minutes if rule is not None and rule.retry_after_minutes is not None \
            else lead.campaign.retry_minutes
        lead.status = PENDING
        lead.owner_agent_id = call.agent_id or lead.agent_id
        lead.agent_id = None
        lead.next_attempt_at = now + timedelta(minutes=minutes)
    return lead


def reserve(session: Session, campaign: Campaign, agent_id: int, now: datetime) -> CampaignContact | None:
    """The next lead for a preview agent: their own due callbacks first, then the campaign's line; committed
    as `reserved` for them."""
    for owner in (agent_id, None):
        found = next_leads(session, campaign, now, 1, status=RESERVED, agent_id=agent_id, owner_agent_id=owner)
        if found:
            return found[0]
    return None


def unreserve(lead: CampaignContact, now: datetime, after_minutes: int) -> None:
    """A preview agent skipped the lead: back in line later, no attempt counted (no commit)."""
    lead.status = PENDING
    lead.agent_id = None
    lead.last_result = "skipped"
    lead.next_attempt_at = now + timedelta(minutes=after_minutes)
