"""Messages people read, kept translatable without Flask: services raise errors with `t(...)`.

A `Message` is the English text (so logs, the CLI and existing callers see plain English) that also remembers its
catalogue id and parameters, so an edge (API, socket, page) can show it in the reader's language. `pybabel extract`
collects `t("...")` like `_("...")` (see babel.cfg).
"""

from __future__ import annotations

from typing import Any


class Message(str):
    """English text plus the msgid and parameters it was made from."""

    msgid: str
    params: dict[str, Any]

    def __new__(cls, msgid: str, **params: Any) -> Message:
        text = super().__new__(cls, msgid % params if params else msgid)
        text.msgid = msgid
        text.params = params
        return text


def t(msgid: str, **params: Any) -> Message:
    """Mark a message for translation; `%(name)s` placeholders take `params`."""
    return Message(msgid, **params)


SUPPORTED_LANGUAGES: tuple[str, ...] = ("en", "zh_Hans")
DEFAULT_LANGUAGE = "en"
