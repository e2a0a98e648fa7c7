"""What the caller hears in the caller's own language, not the agent's.

The product's built-in caller texts (re-prompt, wait announcements, callback confirmations, voicemail prompts)
are English message ids marked with `N_` so gettext extraction (pybabel) finds them; `caller_text` returns one
in the language of a call or of an IVR node. Until they move onto the project's gettext catalogue, the
translations live in the small table below: replacing `caller_text`'s body by
`with force_locale(locale): return gettext(msgid) % params` is the whole migration.

Languages arrive in two spellings: Twilio/BCP-47 tags on flows ("zh-CN", "cmn-Hans-CN", "en-US") and the product's
locale codes on calls and people ("zh_Hans", "en"). `caller_locale` turns the first into the second.
"""

from __future__ import annotations

from typing import Any

DEFAULT_LOCALE = "en"


def N_(msgid: str) -> str:
    """Mark `msgid` for extraction; the text itself is the English message."""
    return msgid


# Chinese (Simplified) for every built-in caller text, keyed by the English message id.
_TRANSLATIONS: dict[str, dict[str, str]] = {
    "zh_Hans": {
        "Sorry, I didn't get that.": "抱歉，我没有听清。",
        "We're sorry, we can't take your call right now. Please try again later. Goodbye.":
            "很抱歉，我们现在无法接听您的来电。请稍后再拨。再见。",
        "Our office is closed right now.": "我们现在已下班。",
        "We are closed at the moment.": "我们目前不在服务时间。",
        "Please leave a message after the tone, then press the pound key or hang up.":
            "请在提示音后留言，完成后请按井号键或直接挂机。",
        "We did not receive a message. Goodbye.": "我们没有收到您的留言。再见。",
        "Thank you. Your message has been recorded and we will get back to you. Goodbye.":
            "谢谢。您的留言已录制，我们会尽快回复您。再见。",
        "To have us call you back, press 1. To leave a message instead, press 2.":
            "如需我们给您回电，请按1。如需留言，请按2。",
        "To have us call you back when we open, press 1. To leave a message instead, press 2.":
            "如需我们在上班后给您回电，请按1。如需留言，请按2。",
        "Thank you. We will call you back at this number. Goodbye.": "谢谢。我们会拨打这个号码给您回电。再见。",
        "Thank you. You keep your place in line and we will call you back. Goodbye.":
            "谢谢。您的排队位置将为您保留，我们会给您回电。再见。",
        "To hang up and keep your place in line with a call back, press star at any time.":
            "如需挂机并保留排队位置等待回电，请随时按星号键。",
        "All of our agents are still busy.": "我们的坐席仍然全忙。",
        "Goodbye.": "再见。",
        "We are sorry, we cannot connect you to an agent right now.": "很抱歉，我们现在无法为您接通人工服务。",
        "You are next in line.": "下一位就是您。",
        "You are number %(position)d in line.": "您排在第%(position)d位。",
        "Your estimated wait is less than a minute.": "预计等待时间不到一分钟。",
        "Your estimated wait is about 1 minute.": "预计等待时间约1分钟。",
        "Your estimated wait is about %(minutes)d minutes.": "预计等待时间约%(minutes)d分钟。",
    },
}

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
    text = _TRANSLATIONS.get(locale, {}).get(msgid, msgid)
    return text % params if params else text


def translated_locales() -> list[str]:
    """The locales the table has translations for (besides English, the message ids themselves)."""
    return sorted(_TRANSLATIONS)


def untranslated(msgids: list[str], locale: str) -> list[str]:
    """The ids among `msgids` with no translation for `locale` (for the test that keeps the table complete)."""
    table = _TRANSLATIONS.get(locale, {})
    return [m for m in msgids if m not in table]
