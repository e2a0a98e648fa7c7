"""Which languages and time zones a person may choose; checked here so every edge refuses the same input."""

from __future__ import annotations

from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from callcenter.services.errors import ValidationFailed
from callcenter.services.messages import DEFAULT_LANGUAGE, SUPPORTED_LANGUAGES, t

__all__ = ["DEFAULT_LANGUAGE", "SUPPORTED_LANGUAGES", "check_language", "check_time_zone", "time_zones"]


def check_language(value: str | None) -> str | None:
    """A supported locale code, or None for "follow the browser"; anything else is a 422 on `language`."""
    if value in (None, ""):
        return None
    if value not in SUPPORTED_LANGUAGES:
        raise ValidationFailed(
            t("Unknown language %(value)r; choose one of %(choices)s", value=value,
              choices=", ".join(SUPPORTED_LANGUAGES)),
            field="language",
        )
    return value


def check_time_zone(value: str | None) -> str | None:
    """An IANA time zone name (Asia/Shanghai), or None for the default; anything else is a 422 on `time_zone`."""
    if value in (None, ""):
        return None
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValidationFailed(t("Unknown time zone %(value)r", value=value), field="time_zone") from None
    if value not in _zones():
        raise ValidationFailed(t("Unknown time zone %(value)r", value=value), field="time_zone")
    return value


_ZONES: frozenset[str] | None = None


def _zones() -> frozenset[str]:
    global _ZONES
    if _ZONES is None:
        _ZONES = frozenset(available_timezones())
    return _ZONES


def time_zones() -> list[str]:
    """Every IANA zone name, sorted, for a chooser."""
    return sorted(_zones())
