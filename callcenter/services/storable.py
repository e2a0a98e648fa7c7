"""Values the database would refuse, refused before anything is written: one check for every edge.

PostgreSQL refuses a NUL character in text and JSON, strings longer than their column, text that is not valid
UTF-8 (a lone surrogate such as JSON's "\\ud800" has no UTF-8 form), and integers outside their column's range;
SQLite accepts most of these silently. Each surfaced as a driver error in the middle of a request: a 500, and on
SQLite a row PostgreSQL could never hold. Requests are checked on the way in (callcenter/input_guard.py) and every
flush is checked here, on both backends, so whatever path a value takes it becomes a ValidationFailed naming the
field, before the first statement of the flush.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from sqlalchemy import JSON, BigInteger, Integer, SmallInteger, String, event, inspect
from sqlalchemy.orm import Session, UOWTransaction

from callcenter.services.errors import ValidationFailed

_INTEGER_RANGES = ((BigInteger, 2**63), (SmallInteger, 2**15), (Integer, 2**31))


def text_problem(text: str) -> str | None:
    """Why the database cannot store `text`, or None when it can."""
    if "\x00" in text:
        return "must not contain NUL (0x00) characters"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "is not valid Unicode text (it contains a lone surrogate)"
    return None


def find_problem(value: Any, path: str = "") -> tuple[str, str] | None:
    """The first (dotted path, reason) of a string inside `value` (dicts, lists, keys too) the database refuses."""
    for where, text in _strings(value, path):
        problem = text_problem(text)
        if problem:
            return where, problem
    return None


def _strings(value: Any, path: str) -> Iterator[tuple[str, str]]:
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, dict):
        for key, item in value.items():
            key_text = str(key)
            where = f"{path}.{key_text}" if path else key_text
            yield where, key_text
            yield from _strings(item, where)
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            yield from _strings(item, f"{path}.{index}" if path else str(index))


def _column_problem(column_type: Any, value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(column_type, String) and isinstance(value, str):
        if column_type.length is not None and len(value) > column_type.length:
            return f"is too long ({len(value)} characters; at most {column_type.length})"
        return text_problem(value)
    if isinstance(column_type, JSON):
        found = find_problem(value)
        return f"{found[0] + ': ' if found[0] else ''}{found[1]}" if found else None
    if isinstance(value, int) and not isinstance(value, bool):
        for kind, bound in _INTEGER_RANGES:
            if isinstance(column_type, kind) and not -bound <= value < bound:
                return "is out of range"
    return None


def check_object(obj: Any, *, changed_only: bool = False) -> None:
    """Raise ValidationFailed for the first column value of `obj` the database would refuse (with `changed_only`,
    among the values set since it was loaded: a row stored before this check is not refused for what it holds)."""
    state = inspect(obj, raiseerr=False)
    if state is None or state.mapper is None:
        return
    loaded = vars(obj)
    for attribute in state.mapper.column_attrs:
        if attribute.key not in loaded or len(attribute.columns) != 1:
            continue
        if changed_only and not state.attrs[attribute.key].history.added:
            continue
        problem = _column_problem(attribute.columns[0].type, loaded[attribute.key])
        if problem:
            raise ValidationFailed(f"{attribute.key.replace('_', ' ').capitalize()} {problem}", field=attribute.key)


@event.listens_for(Session, "before_flush")
def _refuse_what_the_database_would(session: Session, _context: UOWTransaction, _instances: Any) -> None:
    """Every new or changed row is checked before its flush writes anything."""
    for obj in session.new:
        check_object(obj)
    for obj in session.dirty:
        check_object(obj, changed_only=True)
