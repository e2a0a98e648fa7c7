"""Service agreements (SLA tiers) and business-minute arithmetic: when a ticket's answer and resolution are due.

A tier gives, per priority, a first-response and a resolution target in *business minutes*. A ticket takes the tier
of its account; a ticket without an account, or whose account has none, takes the default tier (the setting
`TICKET_DEFAULT_AGREEMENT` names one; without it, or when no tier has that name, `DEFAULT_TARGETS`).

Business minutes are counted in the calendar of the ticket's team. The rule, chosen because it reuses what the
product already has and needs one column: a team works by the business hours and holidays of its queue
(`teams.queue_id`, in that queue's time zone); a ticket without a team, or a team without a queue, uses the default
calendar, Monday to Friday 08:00-18:00 UTC with no holidays (`DEFAULT_BUSINESS_HOURS`). The reading of hours and
holidays is `services.business_hours`'s, so a line's "open" and a ticket's clock never disagree.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from callcenter.models import Account, Queue, Role, ServiceAgreement, Team, User
from callcenter.models.routing import DEFAULT_BUSINESS_HOURS
from callcenter.models.work import TICKET_PRIORITIES
from callcenter.services import audit
from callcenter.services.business_hours import END_OF_DAY, SEARCH_DAYS, WeeklyHours, parse_hours, zone_of
from callcenter.services.errors import Conflict, Forbidden, NotFound, ValidationFailed
from callcenter.services.messages import t

KINDS = ("first_response", "resolution")
# Used when no tier applies: business minutes per priority (a business day is 600 minutes in the default calendar).
DEFAULT_TARGETS: dict[str, dict[str, int]] = {
    "urgent": {"first_response": 30, "resolution": 240},
    "high": {"first_response": 60, "resolution": 600},
    "normal": {"first_response": 240, "resolution": 1800},
    "low": {"first_response": 600, "resolution": 3000},
}
MAX_TARGET_MINUTES = 60 * 24 * 365


@dataclass(frozen=True)
class Calendar:
    """Weekly hours, closed days and the zone they are read in."""

    hours: WeeklyHours
    holidays: frozenset[date]
    zone: ZoneInfo


DEFAULT_CALENDAR = Calendar(parse_hours(DEFAULT_BUSINESS_HOURS), frozenset(), ZoneInfo("UTC"))


def queue_calendar(queue: Queue) -> Calendar:
    """A queue's hours and holidays in its zone."""
    return Calendar(parse_hours(queue.business_hours), frozenset(h.day for h in queue.holidays), zone_of(queue))


def team_calendar(session: Session, team_id: int | None) -> Calendar:
    """The calendar a team's tickets are counted in: its queue's, else the default one."""
    team = session.get(Team, team_id) if team_id is not None else None
    queue = session.get(Queue, team.queue_id) if team is not None and team.queue_id is not None else None
    return queue_calendar(queue) if queue is not None else DEFAULT_CALENDAR


def _open_spans(calendar: Calendar, day: date) -> list[tuple[int, int]]:
    """The open (start, end) minutes of a local day, merged; a holiday closes the whole day."""
    if day in calendar.holidays:
        return []
    spans = []
    for opens, closes in calendar.hours.intervals(day.weekday()):
        spans.append((opens, closes) if opens < closes else (opens, END_OF_DAY))
    for opens, closes in calendar.hours.intervals((day.weekday() - 1) % 7):
        if closes <= opens and closes > 0:  # the morning part of yesterday's overnight interval
            spans.append((0, closes))
    merged: list[tuple[int, int]] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def add_business_minutes(calendar: Calendar, start: datetime, minutes: float) -> datetime | None:
    """The instant `minutes` of open time after `start` (aware), in UTC; None when the calendar never opens.

    Minutes are counted on the local wall clock: a day's 08:00-18:00 is 600 minutes, also on a DST change day.
    """
    if start.tzinfo is None:
        raise ValueError("naive datetime given; pass an aware time such as callcenter.models.utcnow()")
    local = start.astimezone(calendar.zone)
    first_day = local.date()
    now_minute = local.hour * 60 + local.minute + (local.second + local.microsecond / 1e6) / 60
    remaining = max(float(minutes), 0.0)
    for offset in range(SEARCH_DAYS):
        day = first_day + timedelta(days=offset)
        for span_start, span_end in _open_spans(calendar, day):
            begin = max(span_start, now_minute) if offset == 0 else span_start
            if begin >= span_end:
                continue
            if remaining <= span_end - begin:
                wall = datetime.combine(day, time(0), tzinfo=calendar.zone) + timedelta(minutes=begin + remaining)
                return wall.astimezone(UTC)
            remaining -= span_end - begin
    return None


def business_minutes_between(calendar: Calendar, start: datetime, end: datetime) -> float:
    """Open minutes of `calendar` from `start` to `end` (aware; 0 when `end` is not after `start`): how long a
    paused SLA clock would have run."""
    if start.tzinfo is None or end.tzinfo is None:
        raise ValueError("naive datetime given; pass an aware time such as callcenter.models.utcnow()")
    if end <= start:
        return 0.0
    local_start, local_end = start.astimezone(calendar.zone), end.astimezone(calendar.zone)
    total = 0.0
    day = local_start.date()
    while day <= local_end.date():
        midnight = datetime.combine(day, time(0), tzinfo=calendar.zone)
        for span_start, span_end in _open_spans(calendar, day):
            opens = max(midnight + timedelta(minutes=span_start), local_start)
            closes = min(midnight + timedelta(minutes=span_end), local_end)
            if closes > opens:
                total += (closes - opens).total_seconds() / 60
        day += timedelta(days=1)
    return total


# --- tiers ------------------------------------------------------------------------------------------------------


def check_targets(targets: Any) -> dict[str, dict[str, int]]:
    """A tier's targets, checked: every priority has a first-response and a resolution target (whole minutes,
    1 or more, the answer not later than the resolution)."""
    if not isinstance(targets, dict):
        raise ValidationFailed(t('Targets map each priority to its first-response and resolution minutes'),
                               field="targets")
    unknown = sorted(set(targets) - set(TICKET_PRIORITIES))
    if unknown:
        raise ValidationFailed(t('Unknown priority %(value)r (use %(choices)s)', value=unknown[0],
                                 choices=", ".join(TICKET_PRIORITIES)), field=f"targets.{unknown[0]}")
    checked: dict[str, dict[str, int]] = {}
    for priority in TICKET_PRIORITIES:
        given = targets.get(priority)
        if not isinstance(given, dict) or set(given) != set(KINDS):
            raise ValidationFailed(t('Give first_response and resolution minutes for priority %(priority)s',
                                     priority=priority), field=f"targets.{priority}")
        for kind in KINDS:
            value = given[kind]
            if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_TARGET_MINUTES:
                raise ValidationFailed(t('A target is a whole number of minutes from 1 to %(max)s',
                                         max=MAX_TARGET_MINUTES), field=f"targets.{priority}.{kind}")
        if given["first_response"] > given["resolution"]:
            raise ValidationFailed(t('The first response cannot be due after the resolution'),
                                   field=f"targets.{priority}.first_response")
        checked[priority] = {kind: given[kind] for kind in KINDS}
    return checked


def list_agreements(session: Session) -> list[ServiceAgreement]:
    """Every tier, by name (tiers are not secret: anyone signed in may read them)."""
    return list(session.scalars(select(ServiceAgreement).order_by(ServiceAgreement.name)))


def create_agreement(session: Session, actor: User, *, name: str, targets: Any,
                     description: str = "") -> ServiceAgreement:
    """A new tier (admins only); committed and audited."""
    if actor.role != Role.ADMIN.value or not actor.active:
        raise Forbidden(t('Only an admin defines service agreements'))
    name = (name or "").strip()
    if not name or len(name) > 100:
        raise ValidationFailed(t('A service agreement needs a name of at most 100 characters'), field="name")
    taken = session.scalar(select(ServiceAgreement.id).where(func.lower(ServiceAgreement.name) == name.lower()))
    if taken is not None:
        raise Conflict(t('A service agreement named %(name)r exists', name=name), field="name")
    agreement = ServiceAgreement(name=name, description=(description or "")[:255], targets=check_targets(targets))
    session.add(agreement)
    session.flush()
    audit.record(session, "service_agreement.created", actor_id=actor.id, entity=agreement, name=name)
    session.commit()
    return agreement


def get_agreement(session: Session, agreement_id: int) -> ServiceAgreement:
    agreement = session.get(ServiceAgreement, agreement_id)
    if agreement is None:
        raise NotFound(t('Service agreement %(id)s not found', id=agreement_id), field="service_agreement_id")
    return agreement


def targets_for(session: Session, account_id: int | None, priority: str,
                default_agreement: str | None = None) -> tuple[int, int]:
    """(first response, resolution) business minutes for a ticket of `priority` on `account_id`."""
    agreement = None
    if account_id is not None:
        account = session.get(Account, account_id)
        if account is not None and account.service_agreement_id is not None:
            agreement = session.get(ServiceAgreement, account.service_agreement_id)
    if agreement is None and default_agreement:
        agreement = session.scalar(select(ServiceAgreement).where(ServiceAgreement.name == default_agreement))
    targets = (agreement.targets if agreement is not None else None) or DEFAULT_TARGETS
    chosen = targets.get(priority) or DEFAULT_TARGETS[priority]
    return int(chosen["first_response"]), int(chosen["resolution"])
