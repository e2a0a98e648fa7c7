"""Numbers in webhook parameters, read without surprises.

`str.isdigit()` also says yes to "²" and "١٢", and int() refuses "²" (and any string over 4,300 digits), so a view
that checked isdigit() and then called int() crashed on such input; its fail_safe guard turned that into the
"technical difficulties" message for a caller who only pressed a key.
"""

from __future__ import annotations

MAX_DIGITS = 18  # fits a 64-bit integer; no id, count or duration we read is longer


def whole_number(text: str | None) -> int | None:
    """The non-negative integer `text` spells in ASCII digits (at most MAX_DIGITS of them), else None."""
    if text and len(text) <= MAX_DIGITS and text.isascii() and text.isdigit():
        return int(text)
    return None
