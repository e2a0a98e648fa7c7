"""Every screen in the reader's language: Flask-Babel wiring, the locale and time zone of a request, the JS
catalogue, and locale-aware formatting helpers.

One gettext catalogue per language lives in callcenter/translations/<locale>/LC_MESSAGES/messages.po (`make
messages` extracts and updates them). The compiled .mo files are not committed: they are built from the .po at app
start when missing or older than the .po, so a clean clone and an installed package both work.
"""

from __future__ import annotations

import os
import tempfile
from datetime import datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any

from babel import Locale
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from flask import Flask, current_app, request
from flask_babel import Babel, format_datetime, format_decimal, format_timedelta, get_locale, get_timezone, gettext
from flask_login import current_user

from callcenter.services.messages import DEFAULT_LANGUAGE, SUPPORTED_LANGUAGES, Message

TRANSLATIONS = Path(__file__).resolve().parent / "translations"
DOMAIN = "messages"
DEFAULT_TIME_ZONE = "UTC"

babel = Babel()


def negotiate_language(accept: list[str]) -> str:
    """The best supported language for an Accept-Language list (best first): zh, zh-CN, zh-Hans-CN -> zh_Hans."""
    for tag in accept:
        parts = tag.replace("_", "-").lower().split("-")
        if parts[0] == "en":
            return "en"
        if parts[0] == "zh" and not ({"hant", "tw", "hk", "mo"} & set(parts[1:])):
            return "zh_Hans"
        if parts[0] == "*":
            return DEFAULT_LANGUAGE
    return DEFAULT_LANGUAGE


def select_locale() -> str:
    """The user's chosen language, else the browser's best match, else English."""
    user = current_user if _has_user() else None
    if user is not None and getattr(user, "language", None) in SUPPORTED_LANGUAGES:
        return user.language
    return negotiate_language([value for value, _quality in request.accept_languages])


def select_time_zone() -> str:
    """The user's chosen time zone, else UTC (the browser pages fall back to the browser's own zone)."""
    user = current_user if _has_user() else None
    return (getattr(user, "time_zone", None) if user is not None else None) or DEFAULT_TIME_ZONE


def _has_user() -> bool:
    try:
        return bool(current_user and current_user.is_authenticated)
    except Exception:  # outside a request or before login is set up: no user
        return False


def translate(message: Any) -> str:
    """A domain `Message` in the current language (its parameters too); other strings through the catalogue."""
    if isinstance(message, Message):
        params = {key: translate(value) if isinstance(value, Message) else value
                  for key, value in message.params.items()}
        return gettext(message.msgid, **params) if params else gettext(message.msgid)
    if isinstance(message, str) and message:
        return gettext(message)
    return message


def bcp47(locale: str | Locale | None = None) -> str:
    """The locale as browsers name it (zh_Hans -> zh-Hans) for <html lang> and Intl."""
    return str(locale or get_locale() or DEFAULT_LANGUAGE).replace("_", "-")


def language_name(code: str | None, in_locale: str | Locale | None = None) -> str | None:
    """A language's name in the reader's language ("zh_Hans" -> "简体中文" / "Simplified Chinese")."""
    if not code:
        return None
    try:
        shown = Locale.parse(code.replace("-", "_")).get_display_name(in_locale or get_locale() or DEFAULT_LANGUAGE)
    except (ValueError, TypeError):
        return code
    return shown or code


def format_when(value: datetime | None, style: str = "medium") -> str:
    """A timestamp in the reader's locale and time zone (naive values are UTC, as the database stores them)."""
    return "" if value is None else format_datetime(value, style)


def format_duration(seconds: float | timedelta | None, *, granularity: str = "second") -> str:
    """A duration in words for the reader's locale ("3 minutes", "3分钟")."""
    if seconds is None:
        return ""
    delta = seconds if isinstance(seconds, timedelta) else timedelta(seconds=seconds)
    return format_timedelta(delta, granularity=granularity, threshold=1.0)


def format_number(value: float | int | None) -> str:
    return "" if value is None else format_decimal(value)


@lru_cache(maxsize=8)
def _po_messages(locale: str) -> tuple[dict[str, str], dict[str, str]]:
    """(JS messages, all messages) of a catalogue as msgid -> msgstr; empty msgstr means "same as msgid"."""
    path = TRANSLATIONS / locale / "LC_MESSAGES" / f"{DOMAIN}.po"
    if not path.exists():
        return {}, {}
    with path.open("rb") as handle:
        catalog = read_po(handle, locale=locale)
    js: dict[str, str] = {}
    everything: dict[str, str] = {}
    for message in catalog:
        if not message.id or isinstance(message.id, tuple) or message.fuzzy:
            continue
        text = message.string or message.id
        everything[message.id] = text
        if any(filename.endswith(".js") for filename, _line in message.locations):
            js[message.id] = text
    return js, everything


def js_catalogue(locale: str | None = None) -> dict[str, str]:
    """The active language's messages used by the pages' JavaScript: the same catalogue, as JSON for `_()`."""
    return dict(_po_messages(str(locale or get_locale() or DEFAULT_LANGUAGE))[0])


def page_i18n() -> dict[str, Any]:
    """What a page's JavaScript needs to speak the reader's language: locale, time zone, messages."""
    user_zone = getattr(current_user, "time_zone", None) if _has_user() else None
    return {"locale": bcp47(), "timeZone": user_zone, "messages": js_catalogue()}


def compile_catalogues(source: Path = TRANSLATIONS) -> Path:
    """Build each .mo from its .po when missing or stale; returns the directory Flask-Babel should read.

    Next to the .po when that directory is writable, else under the instance folder (an installed package may
    be read-only). Written to a temporary file and renamed, so concurrent processes never read half a file.
    """
    target = source if os.access(source, os.W_OK) else Path(current_app.instance_path) / "translations"
    for po in sorted(source.glob(f"*/LC_MESSAGES/{DOMAIN}.po")):
        locale = po.parent.parent.name
        mo = target / locale / "LC_MESSAGES" / f"{DOMAIN}.mo"
        if mo.exists() and mo.stat().st_mtime >= po.stat().st_mtime:
            continue
        mo.parent.mkdir(parents=True, exist_ok=True)
        with po.open("rb") as handle:
            catalog = read_po(handle, locale=locale)
        fd, tmp = tempfile.mkstemp(dir=mo.parent, suffix=".mo.tmp")
        try:
            with os.fdopen(fd, "wb") as out:
                write_mo(out, catalog, use_fuzzy=False)
            os.replace(tmp, mo)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
    return target


def init_app(app: Flask) -> None:
    """Bind Flask-Babel with our selectors, compile the catalogues, and give templates the helpers."""
    with app.app_context():
        directory = compile_catalogues()
    app.config.setdefault("BABEL_DEFAULT_LOCALE", DEFAULT_LANGUAGE)
    app.config.setdefault("BABEL_DEFAULT_TIMEZONE", DEFAULT_TIME_ZONE)
    app.config["BABEL_TRANSLATION_DIRECTORIES"] = str(directory)
    babel.init_app(app, locale_selector=select_locale, timezone_selector=select_time_zone)
    app.jinja_env.filters.update(when=format_when, duration=format_duration, number=format_number,
                                 language_name=language_name)
    app.jinja_env.globals.update(html_lang=bcp47, page_i18n=page_i18n, current_time_zone=get_timezone)
