"""The dialing gate: `may_dial` decides whether a number may be called now, for every path that places a call.

Click-to-call (console and API), the softphone's outgoing TwiML (`/ivr/client`), callbacks and — later —
campaigns' dialers all ask here, so no path forgets a rule. Each decision is written to `dial_attempts`: the
allowed ones are what attempt caps count (and later carry the call's outcome, see `record_outcome`), the refused
ones keep their reason for whoever asks why a number was not dialled.

The rules, in the order they are checked (the first that refuses gives the reason):
  invalid number → destination not allowed (country, premium-rate / special-service) → do-not-call (internal,
  imported) → campaign consent → abandon lock-out → attempt caps (per contact per day, per campaign) →
  the callee's local calling window.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import phonenumbers
from phonenumbers import PhoneNumberType
from phonenumbers import timezone as phone_timezone
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from callcenter.models import Campaign, CampaignContact, ContactPhone, DialAttempt, DoNotCall, User
from callcenter.services.errors import Conflict
from callcenter.services.messages import Message, t

# Reason codes (stable: stored in dial_attempts.reason and returned by the API).
INVALID_NUMBER = "invalid_number"
COUNTRY_NOT_ALLOWED = "country_not_allowed"
PREMIUM_RATE = "premium_rate"
DNC_INTERNAL = "dnc_internal"
DNC_IMPORTED = "dnc_imported"
CONSENT_REQUIRED = "consent_required"
ABANDON_LOCKOUT = "abandon_lockout"
DAILY_CAP = "daily_cap"
CAMPAIGN_CAP = "campaign_cap"
OUTSIDE_CALLING_WINDOW = "outside_calling_window"

# Paths that place calls (dial_attempts.path).
PATHS = ("click_to_call", "softphone", "callback", "preview", "progressive", "predictive")

# Number types refused against toll fraud: premium-rate and shared-cost lines pay their owner per minute, and
# personal numbers (UK 070) forward anywhere at a premium. UAN (UK 03, charged like a landline) stays allowed.
REFUSED_TYPES = frozenset({PhoneNumberType.PREMIUM_RATE, PhoneNumberType.SHARED_COST,
                           PhoneNumberType.PERSONAL_NUMBER})

# Outcomes `record_outcome` accepts; "abandoned" (a live answer no agent took) starts the lock-out.
OUTCOMES = ("answered", "no-answer", "busy", "failed", "machine", "abandoned")

# Refusals that time cures: a callback refused for one of these is tried again later, not dropped.
TEMPORARY_REASONS = frozenset({ABANDON_LOCKOUT, DAILY_CAP, OUTSIDE_CALLING_WINDOW})


def _messages() -> dict[str, Message]:
    """Why a number cannot be dialled, for the person who tried (translated at the edge)."""
    return {
        INVALID_NUMBER: t("This is not a valid phone number, so it cannot be dialled"),
        COUNTRY_NOT_ALLOWED: t("Calls to this country are not allowed"),
        PREMIUM_RATE: t("Premium-rate and special-service numbers cannot be dialled"),
        DNC_INTERNAL: t("This number is on our do-not-call list"),
        DNC_IMPORTED: t("This number is on an imported do-not-call list"),
        CONSENT_REQUIRED: t("This campaign needs the person's consent to be called, and there is none"),
        ABANDON_LOCKOUT: t("A call to this number was abandoned recently; it cannot be dialled again yet"),
        DAILY_CAP: t("This person has been called as often as allowed today"),
        CAMPAIGN_CAP: t("This number has had all the attempts this campaign allows"),
        OUTSIDE_CALLING_WINDOW: t("It is outside calling hours where this number is"),
    }


def reason_message(reason: str) -> Message:
    """The translatable text for a reason code."""
    return _messages()[reason]


@dataclass(frozen=True)
class DialRules:
    """The gate's settings (from DIAL_* settings at the edge; a campaign may narrow the window)."""

    window_start: time = time(8, 0)
    window_end: time | None = time(21, 0)  # None: until midnight; start 00:00 and end None: no window at all
    allowed_countries: frozenset[str] = frozenset({"US", "CA", "GB", "CN"})
    daily_cap: int = 3
    abandon_lockout: timedelta = timedelta(hours=72)

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> DialRules:
        """Read DIAL_CALLING_HOURS, DIAL_ALLOWED_COUNTRIES, DIAL_DAILY_CAP, DIAL_ABANDON_LOCKOUT_HOURS."""
        start, end = parse_window(config.get("DIAL_CALLING_HOURS") or "08:00-21:00")
        countries = config.get("DIAL_ALLOWED_COUNTRIES") or ("US", "CA", "GB", "CN")
        if isinstance(countries, str):
            countries = countries.split(",")
        return cls(window_start=start, window_end=end,
                   allowed_countries=frozenset(c.strip().upper() for c in countries if c.strip()),
                   daily_cap=int(config.get("DIAL_DAILY_CAP", 3)),
                   abandon_lockout=timedelta(hours=float(config.get("DIAL_ABANDON_LOCKOUT_HOURS", 72))))


def parse_window(text: str) -> tuple[time, time | None]:
    """"08:00-21:00" → (08:00, 21:00); an end of "24:00" means midnight (None). ValueError when malformed."""
    start_text, sep, end_text = text.replace(" ", "").partition("-")
    if not sep:
        raise ValueError(f"{text!r} is not a window like 08:00-21:00")
    start = time.fromisoformat(start_text)
    end = None if end_text == "24:00" else time.fromisoformat(end_text)
    if end is not None and end <= start:
        raise ValueError(f"{text!r} ends before it starts")
    return start, end


@dataclass(frozen=True)
class DialDecision:
    """The gate's answer: `allowed`, else `reason` (a code above) and `message` (translatable)."""

    allowed: bool
    number: str
    reason: str | None = None
    message: Message | None = None
    attempt_id: int | None = None
    details: dict[str, Any] = field(default_factory=dict)


class DialRefused(Conflict):
    """A dial path asked and the gate said no; the message says why (409 at the API)."""

    def __init__(self, decision: DialDecision) -> None:
        super().__init__(decision.message or t("This number cannot be dialled"), field="to")
        self.decision = decision


# --- Parsing ----------------------------------------------------------------------------------------------------


def _parse(number: str) -> phonenumbers.PhoneNumber | None:
    try:
        parsed = phonenumbers.parse(number, None)
    except phonenumbers.NumberParseException:
        return None
    return parsed if phonenumbers.is_possible_number(parsed) else None


def number_zones(number: str) -> list[str]:
    """The IANA zones phonenumbers places the number in (every zone of the country code for non-geographic
    numbers such as NANP toll-free: 42 zones from Guam to Adak)."""
    parsed = _parse(number)
    if parsed is None:
        return []
    return [z for z in phone_timezone.time_zones_for_number(parsed) if z != "Etc/Unknown"]


def within_window(number: str, now: datetime, start: time, end: time | None) -> bool:
    """True when `now` is inside [start, end) in every zone the number may be in (the most restrictive)."""
    if start == time(0, 0) and end is None:
        return True
    zones = number_zones(number)
    if not zones:
        return False  # nowhere known: no hour can be shown to be a decent one
    for name in zones:
        try:
            local = now.astimezone(ZoneInfo(name)).time()
        except ZoneInfoNotFoundError:
            continue
        if local < start or (end is not None and local >= end):
            return False
    return True


# --- The gate ---------------------------------------------------------------------------------------------------


def evaluate(session: Session, number: str, *, campaign: Campaign | None = None, now: datetime,
             rules: DialRules | None = None) -> DialDecision:
    """Decide without writing anything (`may_dial` records the decision too)."""
    rules = rules or DialRules()

    def refuse(reason: str, **details: Any) -> DialDecision:
        return DialDecision(False, number, reason, reason_message(reason), details=details)

    parsed = _parse(number)
    if parsed is None or not phonenumbers.is_valid_number(parsed):
        return refuse(INVALID_NUMBER)
    region = phonenumbers.region_code_for_number(parsed)
    if region not in rules.allowed_countries:
        return refuse(COUNTRY_NOT_ALLOWED, region=region)
    if phonenumbers.number_type(parsed) in REFUSED_TYPES:
        return refuse(PREMIUM_RATE)
    sources = set(session.scalars(select(DoNotCall.source).where(DoNotCall.phone_e164 == number)))
    if "internal" in sources:
        return refuse(DNC_INTERNAL)
    if "imported" in sources:
        return refuse(DNC_IMPORTED)
    if campaign is not None and campaign.requires_consent and not _has_consent(session, campaign, number, now):
        return refuse(CONSENT_REQUIRED)
    abandoned = session.scalar(select(func.max(DialAttempt.outcome_at)).where(
        DialAttempt.phone_e164 == number, DialAttempt.outcome == "abandoned",
        DialAttempt.outcome_at > now - rules.abandon_lockout))
    if abandoned is not None:
        return refuse(ABANDON_LOCKOUT, until=(abandoned + rules.abandon_lockout).isoformat())
    if _attempts(session, _contact_numbers(session, number), since=now - timedelta(days=1)) >= rules.daily_cap:
        return refuse(DAILY_CAP)
    if campaign is not None and _attempts(session, [number], campaign_id=campaign.id) >= campaign.max_attempts:
        return refuse(CAMPAIGN_CAP)
    start, end = rules.window_start, rules.window_end
    if campaign is not None:
        start, end = parse_window(f"{campaign.calling_hours_start}-{campaign.calling_hours_end}")
    if not within_window(number, now, start, end):
        return refuse(OUTSIDE_CALLING_WINDOW)
    return DialDecision(True, number)


def may_dial(session: Session, number: str, *, actor: User | int | None, campaign: Campaign | None = None,
             now: datetime, path: str = "click_to_call", rules: DialRules | None = None,
             call_sid: str | None = None) -> DialDecision:
    """Ask the gate for `number` (E.164) and record the decision; commits, so a refusal survives the caller's
    rollback. `actor` is who tried (a user or their id; None for the system). With a `call_sid`, asking again
    for the same call (a carrier retrying its webhook) returns the first decision and counts no new attempt."""
    if call_sid is not None:
        earlier = session.scalar(select(DialAttempt).where(DialAttempt.call_sid == call_sid, DialAttempt.path == path)
                                 .order_by(DialAttempt.id).limit(1))
        if earlier is not None:
            return DialDecision(earlier.allowed, earlier.phone_e164, earlier.reason,
                                reason_message(earlier.reason) if earlier.reason else None, earlier.id)
    decision = evaluate(session, number, campaign=campaign, now=now, rules=rules)
    actor_id = actor.id if isinstance(actor, User) else actor
    attempt = DialAttempt(phone_e164=number[:20], actor_id=actor_id, path=path, allowed=decision.allowed,
                          reason=decision.reason, campaign_id=campaign.id if campaign is not None else None,
                          at=now, call_sid=call_sid)
    session.add(attempt)
    session.commit()
    return DialDecision(decision.allowed, decision.number, decision.reason, decision.message, attempt.id,
                        decision.details)


def require(session: Session, number: str, **kwargs: Any) -> DialDecision:
    """`may_dial`, raising DialRefused (a Conflict: 409 with the reason's message) when refused."""
    decision = may_dial(session, number, **kwargs)
    if not decision.allowed:
        raise DialRefused(decision)
    return decision


def attach_call(session: Session, attempt_id: int | None, call_sid: str) -> None:
    """Link an allowed attempt to the call it placed, so its outcome can be recorded by CallSid (no commit)."""
    attempt = session.get(DialAttempt, attempt_id) if attempt_id is not None else None
    if attempt is not None:
        attempt.call_sid = call_sid


def record_outcome(session: Session, *, outcome: str, at: datetime, attempt_id: int | None = None,
                   call_sid: str | None = None) -> DialAttempt | None:
    """Record how an allowed attempt ended (by its id or its call's CallSid); "abandoned" starts the lock-out.

    Returns the attempt, or None when none matches. The caller commits."""
    if outcome not in OUTCOMES:
        raise ValueError(f"unknown outcome {outcome!r}")
    if attempt_id is not None:
        attempt = session.get(DialAttempt, attempt_id)
    elif call_sid is not None:
        attempt = session.scalar(select(DialAttempt).where(DialAttempt.call_sid == call_sid, DialAttempt.allowed)
                                 .order_by(DialAttempt.id.desc()).limit(1))
    else:
        raise ValueError("record_outcome needs attempt_id or call_sid")
    if attempt is None or not attempt.allowed:
        return None
    attempt.outcome, attempt.outcome_at = outcome, at
    return attempt


def refusals(session: Session, *, number: str | None = None, limit: int = 100) -> list[DialAttempt]:
    """The latest refusals, newest first (optionally for one number)."""
    query = select(DialAttempt).where(DialAttempt.allowed.is_(False))
    if number is not None:
        query = query.where(DialAttempt.phone_e164 == number)
    return list(session.scalars(query.order_by(DialAttempt.at.desc(), DialAttempt.id.desc()).limit(limit)))


def next_window_opening(number: str, now: datetime, rules: DialRules | None = None,
                        step: timedelta = timedelta(minutes=15), horizon: timedelta = timedelta(days=2)
                        ) -> datetime | None:
    """The first moment (to `step`) after `now` inside the number's calling window, or None within `horizon`."""
    rules = rules or DialRules()
    moment = now + step
    while moment <= now + horizon:
        if within_window(number, moment, rules.window_start, rules.window_end):
            return moment
        moment += step
    return None


def _has_consent(session: Session, campaign: Campaign, number: str, now: datetime) -> bool:
    return session.scalar(select(func.count()).select_from(CampaignContact).where(
        CampaignContact.campaign_id == campaign.id, CampaignContact.phone_e164 == number,
        CampaignContact.consent_at.is_not(None), CampaignContact.consent_at <= now)) > 0


def _contact_numbers(session: Session, number: str) -> list[str]:
    """The number and every other number of the contacts it belongs to (the daily cap is per person)."""
    owners = select(ContactPhone.contact_id).where(ContactPhone.e164 == number)
    others = session.scalars(select(ContactPhone.e164).where(ContactPhone.contact_id.in_(owners)))
    return sorted({number, *others})


def _attempts(session: Session, numbers: Iterable[str], *, since: datetime | None = None,
              campaign_id: int | None = None) -> int:
    """Allowed attempts to `numbers` (since `since`, in `campaign_id`): refusals never count."""
    query = select(func.count()).select_from(DialAttempt).where(
        DialAttempt.phone_e164.in_(list(numbers)), DialAttempt.allowed.is_(True))
    if since is not None:
        query = query.where(DialAttempt.at > since)
    if campaign_id is not None:
        query = query.where(DialAttempt.campaign_id == campaign_id)
    return session.scalar(query) or 0
