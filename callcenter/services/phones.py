"""Phone numbers through `phonenumbers` only: parse any common format to E.164, find local time zones."""

from __future__ import annotations

import functools

import phonenumbers
from phonenumbers import timezone as phone_timezone

from callcenter.services.errors import ValidationFailed
from callcenter.services.messages import t


def to_e164(raw: str, default_region: str = "US", field: str = "phone") -> str:
    """Normalise `raw` ("(415) 555-0100", "+44 20 7946 0958", "0044...") to E.164, or raise ValidationFailed."""
    text = (raw or "").strip()
    if not text:
        raise ValidationFailed(t('A phone number is required'), field=field)
    e164 = _e164(text, default_region)
    if e164 is None:
        raise ValidationFailed(t('%(raw)r is not a possible phone number', raw=raw), field=field)
    return e164


# Numbers parsed lately, kept: a call's number comes back on each of its webhooks and in its jobs, and parsing one
# costs about 30 µs of CPU on the web worker's event loop (under 4 µs once kept).
PARSED_NUMBERS_KEPT = 4096


@functools.lru_cache(maxsize=PARSED_NUMBERS_KEPT)
def _e164(text: str, default_region: str) -> str | None:
    """E.164 for a stripped, non-empty `text`, or None when it is not a possible number."""
    parsed = _parse(text, default_region)
    if parsed is None and text.startswith("00"):
        # "00" is the international prefix in most of the world, though not in the default region (US: 011).
        parsed = _parse("+" + text[2:], None)
    return None if parsed is None else phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def _parse(text: str, region: str | None) -> phonenumbers.PhoneNumber | None:
    try:
        parsed = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        return None
    return parsed if phonenumbers.is_possible_number(parsed) else None


def try_e164(raw: str | None, default_region: str = "US") -> str | None:
    """E.164 for a carrier-supplied number, or None for anonymous/unparseable callers ("Anonymous", "client:x")."""
    if not raw:
        return None
    try:
        return to_e164(raw, default_region)
    except ValidationFailed:
        return None


def time_zones(e164: str) -> list[str]:
    """The IANA time zones a number may be in (several for large countries)."""
    parsed = phonenumbers.parse(e164, None)
    return [tz for tz in phone_timezone.time_zones_for_number(parsed) if tz != "Etc/Unknown"]


def display(e164: str) -> str:
    """International format for people to read."""
    return phonenumbers.format_number(phonenumbers.parse(e164, None), phonenumbers.PhoneNumberFormat.INTERNATIONAL)
