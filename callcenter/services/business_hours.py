"""Open or closed: a queue's weekly hours and holidays, read in the queue's own time zone.

Hours are `{"mon": [["08:00", "18:00"]], ...}`; "24:00" closes at the end of the day, and an interval whose close
is not after its open ("22:00"-"06:00") runs past midnight into the next day. A holiday closes the whole local
calendar day. Times are compared in the queue's zone, so a caller at 23:30 UTC on a Monday reaches a New York
queue that is still open on Monday afternoon.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from babel.dates import format_date, format_skeleton

from callcenter.i18n_caller import DEFAULT_LOCALE, N_, caller_locale, caller_text
from callcenter.models import Queue
from callcenter.services.errors import ValidationFailed
from callcenter.services.messages import t

if TYPE_CHECKING:
    from callcenter.services.queues import QueueSnapshot

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
END_OF_DAY = 24 * 60
_CLOCK = re.compile(r"^([01]\d|2[0-4]):([0-5]\d)$")
# Far enough to step over a year of holidays, short enough to stay instant.
SEARCH_DAYS = 400


@dataclass(frozen=True)
class WeeklyHours:
    """Parsed hours: for each weekday (0 = Monday) a list of (open, close) in minutes after midnight."""

    days: tuple[tuple[tuple[int, int], ...], ...]

    def intervals(self, weekday: int) -> tuple[tuple[int, int], ...]:
        return self.days[weekday]


def parse_clock(text: Any, field: str) -> int:
    """Minutes after midnight for "HH:MM" ("24:00" is the end of the day)."""
    match = _CLOCK.match(text) if isinstance(text, str) else None
    minutes = int(match.group(1)) * 60 + int(match.group(2)) if match else -1
    if not match or minutes > END_OF_DAY:
        raise ValidationFailed(t('%(text)r is not a time of day (use HH:MM, 00:00 to 24:00)', text=text), field=field)
    return minutes


def parse_hours(business_hours: Any) -> WeeklyHours:
    """Check and parse a queue's `business_hours` JSON; a missing day is a closed day."""
    if not isinstance(business_hours, dict):
        raise ValidationFailed(t('Business hours must map days (mon..sun) to lists of [open, close]'),
                               field="business_hours")
    unknown = sorted(set(business_hours) - set(DAYS))
    if unknown:
        raise ValidationFailed(t('Unknown day %(value)r in business hours (use %(value2)s)',
                                 value=unknown[0], value2=', '.join(DAYS)),
                               field=f"business_hours.{unknown[0]}")
    days: list[tuple[tuple[int, int], ...]] = []
    for day in DAYS:
        raw = business_hours.get(day) or []
        if not isinstance(raw, list):
            raise ValidationFailed(t("A day's hours must be a list of [open, close] pairs"),
                                   field=f"business_hours.{day}")
        intervals = []
        for index, pair in enumerate(raw):
            field = f"business_hours.{day}[{index}]"
            if not (isinstance(pair, list | tuple) and len(pair) == 2):
                raise ValidationFailed(t('Each interval is a pair [open, close]'), field=field)
            opens, closes = parse_clock(pair[0], field), parse_clock(pair[1], field)
            if opens == END_OF_DAY:
                raise ValidationFailed(t('An interval cannot open at 24:00 (use 00:00 of the next day)'), field=field)
            intervals.append((opens, closes))
        days.append(tuple(intervals))
    return WeeklyHours(tuple(days))


def zone_of(queue: Queue | QueueSnapshot) -> ZoneInfo:
    """The queue's IANA zone; an unknown name is a configuration error the admin must fix."""
    try:
        return ZoneInfo(queue.time_zone or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        raise ValidationFailed(t('Unknown time zone %(time_zone)r on queue %(name)r',
                                 time_zone=queue.time_zone, name=queue.name),
                               field="time_zone") from None


def _holidays(queue: Queue | QueueSnapshot) -> set[date]:
    """Closed days: a row's Holiday objects, or a snapshot's dates."""
    return {holiday if isinstance(holiday, date) else holiday.day for holiday in queue.holidays}


def _open_at(hours: WeeklyHours, holidays: set[date], local: datetime) -> bool:
    day = local.date()
    if day in holidays:
        return False
    minute = local.hour * 60 + local.minute
    for opens, closes in hours.intervals(local.weekday()):
        if opens < closes and opens <= minute < closes:
            return True
        if closes <= opens and minute >= opens:  # overnight interval, evening part
            return True
    # The morning part of yesterday's overnight interval.
    return any(closes <= opens and minute < closes for opens, closes in hours.intervals((local.weekday() - 1) % 7))


def _require_aware(now: datetime) -> None:
    if now.tzinfo is None:
        raise ValueError("naive datetime given; pass an aware time such as callcenter.models.utcnow()")


def is_open(queue: Queue | QueueSnapshot, now: datetime) -> bool:
    """True when `queue` takes calls at the instant `now` (aware), judged by its local clock and holidays."""
    _require_aware(now)
    return _open_at(parse_hours(queue.business_hours), _holidays(queue), now.astimezone(zone_of(queue)))


def _local(day: date, minutes: int, zone: ZoneInfo) -> datetime:
    """A wall-clock time on `day` in `zone`; DST gaps resolve the way zoneinfo does (fold=0)."""
    return datetime.combine(day, time(minutes // 60, minutes % 60), tzinfo=zone)


def next_opening(queue: Queue | QueueSnapshot, now: datetime) -> datetime | None:
    """The first instant at or after `now` when the queue is open (in the queue's zone), None if it never opens."""
    _require_aware(now)
    hours, holidays, zone = parse_hours(queue.business_hours), _holidays(queue), zone_of(queue)
    local_now = now.astimezone(zone)
    if _open_at(hours, holidays, local_now):
        return local_now
    today = local_now.date()
    for offset in range(SEARCH_DAYS):
        day = today + timedelta(days=offset)
        # An opening happens at an interval's start, or at midnight when a holiday ends an overnight interval.
        candidates = sorted({0, *(opens for opens, _ in hours.intervals(day.weekday()))})
        for minutes in candidates:
            moment = _local(day, minutes, zone)
            if moment > local_now and _open_at(hours, holidays, moment):
                return moment
    return None


OPENS_TODAY = N_("We open today at %(time)s.")
OPENS_TOMORROW = N_("We open tomorrow at %(time)s.")
OPENS_ON_DAY = N_("We open %(day)s at %(time)s.")
OPENS_ON_DATE = N_("We open %(day)s, %(date)s at %(time)s.")
OPENING_TEXTS = (OPENS_TODAY, OPENS_TOMORROW, OPENS_ON_DAY, OPENS_ON_DATE)


def _spoken_locale(language: str | None) -> str:
    """The Babel locale a caller's language tag or locale code ("zh-CN", "zh_Hans", None) is spoken in."""
    return caller_locale(language) or DEFAULT_LOCALE


def _plain(text: str) -> str:
    # CLDR puts narrow no-break spaces in "8 AM"; text-to-speech and the transcript want an ordinary space.
    return text.replace("\u202f", " ").replace("\xa0", " ")


def spoken_time(moment: datetime, language: str | None = None) -> str:
    """How a person says a time of day in the caller's language: "8 AM", "8:30 AM" / "上午8时", "下午1:30"."""
    skeleton = "h" if moment.minute == 0 else "hm"
    return _plain(format_skeleton(skeleton, moment, locale=_spoken_locale(language)))


def describe_opening(opening: datetime, now: datetime, language: str | None = None) -> str:
    """"We open today at 1 PM." / "tomorrow at 8 AM" / "Monday at 8 AM" / "Monday, January 5 at 8 AM", in the
    caller's `language` (a tag like "zh-CN" or a locale code; English when None), days and dates by Babel."""
    _require_aware(now)
    local_now = now.astimezone(opening.tzinfo)
    days_ahead = (opening.date() - local_now.date()).days
    locale = _spoken_locale(language)
    at = spoken_time(opening, locale)
    day = format_date(opening, "EEEE", locale=locale)
    if days_ahead <= 0:
        return caller_text(OPENS_TODAY, locale, time=at)
    if days_ahead == 1:
        return caller_text(OPENS_TOMORROW, locale, time=at)
    if days_ahead < 7:
        return caller_text(OPENS_ON_DAY, locale, day=day, time=at)
    on = _plain(format_skeleton("MMMMd", opening, locale=locale))
    return caller_text(OPENS_ON_DATE, locale, day=day, date=on, time=at)


def opening_message(queue: Queue | QueueSnapshot, now: datetime, language: str | None = None) -> str | None:
    """The sentence a closed line says about when it opens (in the caller's `language`), or None when the queue
    never opens."""
    opening = next_opening(queue, now)
    return describe_opening(opening, now, language) if opening is not None else None
