"""Reading list filters from a query string the same way on every back-office page: days are days in the
viewer's time zone (their profile's, else UTC), and each unreadable part becomes a message for the reader."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from flask import request
from flask_babel import gettext as _
from flask_login import current_user


def viewer_zone() -> ZoneInfo:
    try:
        return ZoneInfo(current_user.time_zone or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def day_start(name: str, zone: ZoneInfo, errors: list[str], next_day: bool = False) -> datetime | None:
    """The start of the day written in query field `name` (YYYY-MM-DD), or of the day after (an inclusive end)."""
    raw = (request.args.get(name) or "").strip()
    if not raw:
        return None
    try:
        day = datetime.strptime(raw, "%Y-%m-%d").date()
    except ValueError:
        errors.append(_("Write dates as YYYY-MM-DD (%(value)s).", value=raw[:40]))
        return None
    return datetime.combine(day + timedelta(days=1 if next_day else 0), time(), zone)


def whole_number(name: str, errors: list[str], minimum: int = 0) -> int | None:
    raw = (request.args.get(name) or "").strip()
    if not raw:
        return None
    if not raw.isdigit() or int(raw) < minimum or len(raw) > 9:
        errors.append(_("%(field)s must be a whole number.", field=name))
        return None
    return int(raw)


def page_number() -> int:
    raw = request.args.get("page", "1")
    return max(1, min(int(raw), 100_000)) if raw.isdigit() else 1
