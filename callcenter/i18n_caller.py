"""What the caller hears in the caller's own language, not the agent's.

The product's built-in caller texts (re-prompt, wait announcements, callback confirmations, voicemail prompts)
are English message ids marked with `N_` so gettext extraction (pybabel) finds them; `caller_text` returns one
in the language of a call or of an IVR node, from the product's gettext catalogue (read with Babel, so this
works without a request or app context: webhooks, jobs).

Languages arrive in two spellings: Twilio/BCP-47 tags on flows ("zh-CN", "cmn-Hans-CN", "en-US") and the product's
locale codes on calls and people ("zh_Hans", "en"). `caller_locale` turns the first into the second.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

from babel.messages.pofile import read_po

DEFAULT_LOCALE = "en"


def N_(msgid: str) -> str:
    """Mark `msgid` for extraction; the text itself is the English message."""
    return msgid


TRANSLATIONS = Path(__file__).resolve().parent / "translations"


@lru_cache(maxsize=8)
def _catalogue(locale: str) -> dict[str, str]:
    """msgid -> translation of the product's gettext catalogue for `locale` (read once per process)."""
    path = TRANSLATIONS / locale / "LC_MESSAGES" / "messages.po"
    if not path.exists():
        return {}
    with path.open("rb") as handle:
        catalog = read_po(handle, locale=locale)
    return {m.id: m.string for m in catalog if m.id and isinstance(m.id, str) and m.string and not m.fuzzy}


# Twilio/BCP-47 language tags that mean Traditional Chinese (everything else Chinese is Simplified).
_TRADITIONAL = ("hant", "tw", "hk", "mo")


def caller_locale(language: str | None) -> str | None:
    """The product locale code of a language tag: "zh-CN"/"cmn-Hans-CN" -> "zh_Hans", "en-US" -> "en".

    A locale code ("zh_Hans", "en") comes back as it is; None or blank stays None (the language is unknown).
    """
    text = (language or "").strip()
    if not text:
        return None
    if "_" in text or text.isalpha():
        primary = text.split("_")[0].lower()
        if primary == "zh":
            return "zh_Hant" if text.lower().endswith("_hant") else "zh_Hans"
        return primary if "_" not in text else text
    parts = text.replace("_", "-").lower().split("-")
    if parts[0] in ("zh", "cmn", "yue"):
        return "zh_Hant" if parts[0] == "yue" or any(p in _TRADITIONAL for p in parts[1:]) else "zh_Hans"
    return parts[0]


def caller_text(msgid: str, language: str | None, **params: Any) -> str:
    """`msgid` in the caller's language (a tag or a locale code), with `%(name)s` parameters filled in.

    Unknown languages and untranslated texts fall back to the English message.
    """
    locale = caller_locale(language) or DEFAULT_LOCALE
    text = _catalogue(locale).get(msgid, msgid) if locale != DEFAULT_LOCALE else msgid
    return text % params if params else text


def untranslated(msgids: list[str], locale: str) -> list[str]:
    """The ids among `msgids` the catalogue of `locale` does not translate (for the test that keeps it complete)."""
    table = _catalogue(locale)
    return [m for m in msgids if m not in table]
