"""Outbound campaigns: create and edit them, start / pause / stop, who works them, what each disposition does to
a lead, and the script an agent reads with the contact's and the lead's fields merged in.

Admins and supervisors manage campaigns; every change is committed with an audit entry. Which lead is dialled
next and how a disposition recycles a lead belong to `services.leads`; pacing to the pacer.

Status changes:

    draft   -> running (start)
    running -> paused (pause) | finished (stop)
    paused  -> running (start, i.e. resume) | finished (stop)

A finished campaign is kept for its reports and can no longer be edited or started.

Script syntax (`render_script`): `{field}` is replaced by the field's value: the contact's `first_name`,
`last_name`, `full_name`, `email`, `account`, `phone`, or any custom field of the lead by its name (as imported,
e.g. `{balance}` or `{合同号}`). `{{` and `}}` write a literal brace. A field nobody knows stays as typed
(`{shoe_size}`), so a typo shows in the script rather than silently vanishing. Nothing else is interpreted: no
attribute access, no format specs, no code.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import phonenumbers
from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload

from callcenter.models import (
    Campaign,
    CampaignAgent,
    CampaignContact,
    CampaignDisposition,
    Contact,
    Disposition,
    Queue,
    Role,
    Team,
    User,
)
from callcenter.models.recordings import RECORDING_POLICIES
from callcenter.services import audit
from callcenter.services.errors import Conflict, Forbidden, NotFound, ValidationFailed
from callcenter.services.messages import t

MODES = ("preview", "progressive", "predictive")
STATUSES = ("draft", "running", "paused", "finished")
OUTCOMES = ("final", "retry", "callback")
# action -> (statuses it may be taken from, status it leads to)
TRANSITIONS: dict[str, tuple[tuple[str, ...], str]] = {
    "start": (("draft", "paused"), "running"),
    "pause": (("running",), "paused"),
    "stop": (("running", "paused"), "finished"),
}
# Lead statuses still to be worked, and those that are over.
OPEN_LEAD_STATUSES = ("pending", "reserved", "dialing", "connected")
CLOSED_LEAD_STATUSES = ("done", "failed", "blocked")

EDITABLE = ("name", "mode", "queue_id", "caller_id", "team_id", "script", "calling_hours_start", "calling_hours_end",
            "max_attempts", "retry_minutes", "default_region", "voicemail_drop_text", "identification_text",
            "max_abandon_rate", "abandon_window_days", "requires_consent", "dial_ratio", "recording_policy")
MAX_NAME = 120
MAX_SCRIPT = 20_000
MAX_MESSAGE_TEXT = 1_000
HOURS = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")
# name -> (minimum, maximum) for the numbers a campaign takes
RANGES: dict[str, tuple[float, float]] = {
    "max_attempts": (1, 50),
    "retry_minutes": (1, 60 * 24 * 30),
    "max_abandon_rate": (0.0, 0.5),
    "abandon_window_days": (1, 365),
    "dial_ratio": (1.0, 10.0),
}
MAX_RETRY_AFTER_MINUTES = 60 * 24 * 90


def require_manager(actor: User | None) -> None:
    """Campaigns decide who is called: admins and supervisors only (None: the CLI or a job, trusted)."""
    if actor is not None and actor.role not in (Role.ADMIN.value, Role.SUPERVISOR.value):
        raise Forbidden(t("Only admins and supervisors may manage campaigns"))


def _actor_id(actor: User | None) -> int | None:
    return actor.id if actor is not None else None


# --- validation --------------------------------------------------------------------------------------------------


def _text(values: dict[str, Any], name: str, limit: int) -> None:
    if name not in values:
        return
    value = values[name]
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise ValidationFailed(t("%(field)s must be text", field=name), field=name)
    if len(value) > limit:
        raise ValidationFailed(t("%(field)s is at most %(limit)s characters", field=name, limit=limit), field=name)
    values[name] = value


def _number(values: dict[str, Any], name: str, integer: bool) -> None:
    if name not in values:
        return
    value = values[name]
    low, high = RANGES[name]
    try:
        if isinstance(value, bool):
            raise ValueError(value)
        number = int(value) if integer else float(value)
        if integer and isinstance(value, float) and value != int(value):
            raise ValueError(value)
    except (TypeError, ValueError):
        raise ValidationFailed(t("%(field)s must be a number", field=name), field=name) from None
    if not low <= number <= high:
        raise ValidationFailed(t("%(field)s must be between %(low)s and %(high)s", field=name, low=low, high=high),
                               field=name)
    values[name] = number


def validate_values(session: Session, values: dict[str, Any], allowed_caller_ids: Iterable[str], *,
                    campaign: Campaign | None = None) -> dict[str, Any]:
    """The editable fields given, checked and normalised; raises ValidationFailed naming the first field at fault."""
    unknown = sorted(set(values) - set(EDITABLE))
    if unknown:
        raise ValidationFailed(t("Unknown campaign field %(name)s", name=unknown[0]), field=unknown[0])
    values = dict(values)
    if "name" in values or campaign is None:
        name = (values.get("name") or "").strip() if isinstance(values.get("name"), str | None) else None
        if not name:
            raise ValidationFailed(t("A campaign needs a name"), field="name")
        if len(name) > MAX_NAME:
            raise ValidationFailed(t("A campaign name is at most %(limit)s characters", limit=MAX_NAME),
                                   field="name")
        taken = session.scalar(select(Campaign.id).where(Campaign.name == name))
        if taken is not None and (campaign is None or taken != campaign.id):
            raise ValidationFailed(t("A campaign named %(name)s already exists", name=name), field="name")
        values["name"] = name
    if "mode" in values and values["mode"] not in MODES:
        raise ValidationFailed(t("The dial mode is one of %(value)s", value=", ".join(MODES)), field="mode")
    if "caller_id" in values and not values["caller_id"]:
        values["caller_id"] = None  # none chosen yet: required to start, not to save a draft
    if values.get("caller_id") is not None:
        caller_id = str(values["caller_id"]).strip()
        allowed = list(allowed_caller_ids)
        if caller_id not in allowed:
            raise ValidationFailed(t("The caller ID must be one of our numbers: %(numbers)s",
                                     numbers=", ".join(allowed) or "-"), field="caller_id")
        values["caller_id"] = caller_id
    for name in ("calling_hours_start", "calling_hours_end"):
        if name in values and not (isinstance(values[name], str) and HOURS.match(values[name])):
            raise ValidationFailed(t("Write the time as HH:MM (00:00 to 23:59)"), field=name)
    start = values.get("calling_hours_start", campaign.calling_hours_start if campaign else "09:00")
    end = values.get("calling_hours_end", campaign.calling_hours_end if campaign else "20:00")
    if start >= end:
        raise ValidationFailed(t("Calling hours must end after they start"), field="calling_hours_end")
    for name in ("max_attempts", "retry_minutes", "abandon_window_days"):
        _number(values, name, integer=True)
    for name in ("max_abandon_rate", "dial_ratio"):
        _number(values, name, integer=False)
    if "default_region" in values:
        region = str(values["default_region"] or "").strip().upper()
        if region not in phonenumbers.SUPPORTED_REGIONS:
            raise ValidationFailed(t("%(region)r is not a country code like US, GB or CN", region=region),
                                   field="default_region")
        values["default_region"] = region
    _text(values, "script", MAX_SCRIPT)
    _text(values, "voicemail_drop_text", MAX_MESSAGE_TEXT)
    _text(values, "identification_text", MAX_MESSAGE_TEXT)
    if "recording_policy" in values and values["recording_policy"] not in RECORDING_POLICIES:
        raise ValidationFailed(t("Recording policy must be one of: off, all, on_demand"),
                               field="recording_policy")
    if "requires_consent" in values and not isinstance(values["requires_consent"], bool):
        raise ValidationFailed(t("%(field)s must be true or false", field="requires_consent"),
                               field="requires_consent")
    if values.get("queue_id") is not None and session.get(Queue, values["queue_id"]) is None:
        raise ValidationFailed(t("Queue %(queue_id)s not found", queue_id=values["queue_id"]), field="queue_id")
    if values.get("team_id") is not None and session.get(Team, values["team_id"]) is None:
        raise ValidationFailed(t("Team %(team_id)s not found", team_id=values["team_id"]), field="team_id")
    return values


def _check_agents(session: Session, agent_ids: Iterable[int]) -> list[int]:
    ids = sorted(set(agent_ids))
    found = set(session.scalars(select(User.id).where(User.id.in_(ids), User.active.is_(True)))) if ids else set()
    missing = [i for i in ids if i not in found]
    if missing:
        raise ValidationFailed(t("Agent %(agent_id)s not found", agent_id=missing[0]), field="agent_ids")
    return ids


@dataclass(frozen=True)
class DispositionRule:
    """What one disposition does to a lead of the campaign."""

    code: str
    outcome: str = "final"
    retry_after_minutes: int | None = None


def _check_rules(session: Session, rules: Iterable[DispositionRule]) -> list[tuple[Disposition, DispositionRule]]:
    checked: list[tuple[Disposition, DispositionRule]] = []
    seen: set[str] = set()
    for index, rule in enumerate(rules):
        where = f"dispositions.{index}"
        found = session.scalar(select(Disposition).where(Disposition.code == rule.code,
                                                         Disposition.active.is_(True)))
        if found is None:
            raise ValidationFailed(t("Unknown disposition %(code)r", code=rule.code), field=f"{where}.code")
        if rule.code in seen:
            raise ValidationFailed(t("Disposition %(code)s is listed twice", code=rule.code), field=f"{where}.code")
        seen.add(rule.code)
        if rule.outcome not in OUTCOMES:
            raise ValidationFailed(t("A disposition's outcome is one of %(value)s", value=", ".join(OUTCOMES)),
                                   field=f"{where}.outcome")
        minutes = rule.retry_after_minutes
        if rule.outcome == "retry":
            if minutes is None or isinstance(minutes, bool) or not isinstance(minutes, int) \
                    or not 1 <= minutes <= MAX_RETRY_AFTER_MINUTES:
                raise ValidationFailed(t("A retry needs its delay: 1 to %(limit)s minutes",
                                         limit=MAX_RETRY_AFTER_MINUTES), field=f"{where}.retry_after_minutes")
        else:
            minutes = None
        checked.append((found, DispositionRule(rule.code, rule.outcome, minutes)))
    return checked


# --- create, edit, read ------------------------------------------------------------------------------------------


def create_campaign(session: Session, actor: User | None, values: dict[str, Any], *,
                    allowed_caller_ids: Iterable[str], agent_ids: Iterable[int] | None = None,
                    dispositions: Iterable[DispositionRule] | None = None) -> Campaign:
    """A new campaign in draft; committed and audited."""
    require_manager(actor)
    checked = validate_values(session, values, allowed_caller_ids)
    agents = _check_agents(session, agent_ids or [])
    rules = _check_rules(session, dispositions or [])
    campaign = Campaign(status="draft", **checked)
    campaign.agents = [CampaignAgent(user_id=i) for i in agents]
    campaign.dispositions = [CampaignDisposition(disposition_id=d.id, outcome=r.outcome,
                                                 retry_after_minutes=r.retry_after_minutes) for d, r in rules]
    session.add(campaign)
    session.flush()
    audit.record(session, "campaign.created", actor_id=_actor_id(actor), entity=campaign, name=campaign.name,
                 mode=campaign.mode, agent_ids=agents, dispositions=[r.code for _, r in rules])
    session.commit()
    return campaign


def get_campaign(session: Session, campaign_id: int) -> Campaign:
    campaign = session.scalar(
        select(Campaign).where(Campaign.id == campaign_id)
        .options(selectinload(Campaign.agents), selectinload(Campaign.dispositions)
                 .selectinload(CampaignDisposition.disposition))
    )
    if campaign is None:
        raise NotFound(t("Campaign %(campaign_id)s not found", campaign_id=campaign_id), field="campaign_id")
    return campaign


def update_campaign(session: Session, actor: User | None, campaign_id: int, values: dict[str, Any], *,
                    allowed_caller_ids: Iterable[str], agent_ids: Iterable[int] | None = None,
                    dispositions: Iterable[DispositionRule] | None = None) -> Campaign:
    """Change the given fields; `agent_ids` / `dispositions`, when given, replace the whole list. A finished
    campaign is refused (Conflict)."""
    require_manager(actor)
    campaign = get_campaign(session, campaign_id)
    if campaign.status == "finished":
        raise Conflict(t("A finished campaign can no longer be changed"), field="status")
    checked = validate_values(session, values, allowed_caller_ids, campaign=campaign)
    changed = sorted(k for k, v in checked.items() if getattr(campaign, k) != v)
    for key, value in checked.items():
        setattr(campaign, key, value)
    if agent_ids is not None:
        ids = _check_agents(session, agent_ids)
        if ids != sorted(a.user_id for a in campaign.agents):
            changed.append("agents")
            campaign.agents = [CampaignAgent(user_id=i) for i in ids]
    if dispositions is not None:
        rules = _check_rules(session, dispositions)
        before = sorted((d.disposition.code, d.outcome, d.retry_after_minutes) for d in campaign.dispositions)
        after = sorted((r.code, r.outcome, r.retry_after_minutes) for _, r in rules)
        if before != after:
            changed.append("dispositions")
            campaign.dispositions = []
            session.flush()  # the old rows go before the new ones share their primary keys
            campaign.dispositions = [CampaignDisposition(disposition_id=d.id, outcome=r.outcome,
                                                         retry_after_minutes=r.retry_after_minutes)
                                     for d, r in rules]
    audit.record(session, "campaign.updated", actor_id=_actor_id(actor), entity=campaign, fields=changed)
    session.commit()
    return campaign


def delete_campaign(session: Session, actor: User | None, campaign_id: int) -> None:
    """Remove a campaign and its leads; refused while it runs (pause or stop it first)."""
    require_manager(actor)
    campaign = get_campaign(session, campaign_id)
    if campaign.status == "running":
        raise Conflict(t("Pause or stop the campaign before deleting it"), field="status")
    audit.record(session, "campaign.deleted", actor_id=_actor_id(actor), entity=campaign, name=campaign.name)
    session.delete(campaign)
    session.commit()


def change_status(session: Session, actor: User | None, campaign_id: int, action: str) -> Campaign:
    """start / pause / stop, where the current status allows it (Conflict saying why otherwise)."""
    require_manager(actor)
    if action not in TRANSITIONS:
        raise ValidationFailed(t("The action is one of %(value)s", value=", ".join(TRANSITIONS)), field="action")
    campaign = get_campaign(session, campaign_id)
    allowed_from, to_status = TRANSITIONS[action]
    if campaign.status not in allowed_from:
        raise Conflict(t("A %(status)s campaign cannot be %(action)s", status=t(campaign.status),
                         action=t(ACTION_PAST[action])), field="status")
    if to_status == "running":
        if not campaign.caller_id:
            raise ValidationFailed(t("Choose the campaign's caller ID before starting it"), field="caller_id")
        if not campaign.agents and campaign.team_id is None:
            raise ValidationFailed(t("Assign agents or a team before starting the campaign"), field="agent_ids")
    before = campaign.status
    campaign.status = to_status
    audit.record(session, f"campaign.{action}", actor_id=_actor_id(actor), entity=campaign, from_status=before,
                 to_status=to_status)
    session.commit()
    return campaign


# Participles for the refusal message ("A draft campaign cannot be paused").
ACTION_PAST = {"start": "started", "pause": "paused", "stop": "stopped"}
# Extracted for the catalogue: statuses and participles are inserted into translated sentences.
_WORDS = (t("draft"), t("running"), t("paused"), t("finished"), t("started"), t("stopped"),
          # and shown as they are stored: modes, disposition outcomes, import and report statuses
          t("preview"), t("progressive"), t("predictive"), t("final"), t("retry"), t("callback"),
          t("pending"), t("done"), t("failed"), t("rejected"), t("skipped"), t("flagged"))


@dataclass(frozen=True)
class CampaignSummary:
    campaign: Campaign
    leads: dict[str, int] = field(default_factory=dict)

    @property
    def pending(self) -> int:
        return sum(self.leads.get(s, 0) for s in OPEN_LEAD_STATUSES)

    @property
    def done(self) -> int:
        return sum(self.leads.get(s, 0) for s in CLOSED_LEAD_STATUSES)

    @property
    def total(self) -> int:
        return sum(self.leads.values())


def lead_counts(session: Session, campaign_ids: Iterable[int]) -> dict[int, dict[str, int]]:
    """Leads per status, per campaign (one query)."""
    ids = list(campaign_ids)
    counts: dict[int, dict[str, int]] = {i: {} for i in ids}
    if not ids:
        return counts
    rows = session.execute(select(CampaignContact.campaign_id, CampaignContact.status, func.count())
                           .where(CampaignContact.campaign_id.in_(ids))
                           .group_by(CampaignContact.campaign_id, CampaignContact.status))
    for campaign_id, status, count in rows:
        counts[campaign_id][status] = count
    return counts


def list_campaigns(session: Session, actor: User | None, *, limit: int = 100, offset: int = 0
                   ) -> tuple[list[CampaignSummary], int]:
    """Campaigns, newest first, with their lead counts; and the total."""
    require_manager(actor)
    total = session.scalar(select(func.count()).select_from(Campaign)) or 0
    campaigns = list(session.scalars(select(Campaign).options(selectinload(Campaign.agents))
                                     .order_by(Campaign.id.desc()).limit(limit).offset(offset)))
    counts = lead_counts(session, [c.id for c in campaigns])
    return [CampaignSummary(c, counts[c.id]) for c in campaigns], total


def summary(session: Session, campaign: Campaign) -> CampaignSummary:
    return CampaignSummary(campaign, lead_counts(session, [campaign.id])[campaign.id])


def list_leads(session: Session, actor: User | None, campaign_id: int, *, status: str | None = None,
               limit: int = 25, offset: int = 0) -> tuple[list[CampaignContact], int]:
    """A campaign's leads in dialling order (priority, then when they are due), with the total."""
    require_manager(actor)
    get_campaign(session, campaign_id)
    query = select(CampaignContact).where(CampaignContact.campaign_id == campaign_id)
    if status:
        query = query.where(CampaignContact.status == status)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    items = session.scalars(query.options(selectinload(CampaignContact.contact))
                            .order_by(CampaignContact.priority.desc(), CampaignContact.next_attempt_at,
                                      CampaignContact.id).limit(limit).offset(offset))
    return list(items), total


def disposition_rule(session: Session, campaign_id: int, code: str) -> CampaignDisposition | None:
    """The campaign's rule for a disposition code, if it has one."""
    return session.scalar(select(CampaignDisposition).join(Disposition)
                          .where(CampaignDisposition.campaign_id == campaign_id, Disposition.code == code))


# --- script and pop ----------------------------------------------------------------------------------------------

_PLACEHOLDER = re.compile(r"\{\{|\}\}|\{([^{}\s]{1,64})\}")


def merge_fields(contact: Contact | None, lead: CampaignContact | None) -> dict[str, str]:
    """The values a script may use: the lead's custom fields, then the contact's own (which win a clash)."""
    values: dict[str, str] = {}
    if lead is not None:
        values.update({str(k): "" if v is None else str(v) for k, v in (lead.custom_fields or {}).items()})
        values["phone"] = lead.phone_e164
    if contact is not None:
        full = contact.full_name or " ".join(p for p in (contact.first_name, contact.last_name) if p)
        values.update({
            "first_name": contact.first_name or "",
            "last_name": contact.last_name or "",
            "full_name": full,
            "email": contact.email or "",
            "account": contact.account.name if contact.account is not None else "",
        })
    return values


def render_script(campaign: Campaign, contact: Contact | None, lead: CampaignContact | None) -> str:
    """The campaign's script with `{field}` placeholders filled (see the module's docstring for the syntax)."""
    values = merge_fields(contact, lead)

    def fill(match: re.Match[str]) -> str:
        token = match.group(0)
        if token == "{{":
            return "{"
        if token == "}}":
            return "}"
        name = match.group(1)
        return values.get(name, token)

    return _PLACEHOLDER.sub(fill, campaign.script or "")


def pop_section(session: Session, lead: CampaignContact) -> dict[str, Any]:
    """What the screen pop shows for a campaign call: the campaign, the merged script and the lead's fields."""
    campaign = session.get(Campaign, lead.campaign_id)
    contact = session.get(Contact, lead.contact_id)
    assert campaign is not None
    return {
        "campaign": {"id": campaign.id, "name": campaign.name, "mode": campaign.mode},
        "script": render_script(campaign, contact, lead),
        "custom_fields": dict(lead.custom_fields or {}),
        "lead": {"id": lead.id, "attempts": lead.attempts, "priority": lead.priority,
                 "last_disposition": lead.last_disposition},
    }
