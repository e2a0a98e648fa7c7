"""What a Socket.IO event may carry: an object whose named fields have the expected types.

A browser (or anyone with a socket) can send any JSON: a list instead of an object, a number or an object where
a string belongs, a NUL the database refuses. Handlers declare their fields; anything else is answered with an
error acknowledgement naming the field, instead of raising inside the handler.
"""

from __future__ import annotations

from typing import Any

from callcenter.services.storable import find_problem

Types = type | tuple[type, ...]
NAMES = {str: "a string", int: "a number", float: "a number", bool: "true or false", dict: "an object",
         list: "a list", type(None): "null"}


class PayloadError(Exception):
    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


def _type_ok(value: Any, types: tuple[type, ...]) -> bool:
    if isinstance(value, bool) and bool not in types:
        return False  # JSON true is not a number here
    return isinstance(value, types)


def parse(data: Any, spec: dict[str, Types]) -> dict[str, Any]:
    """`data` as a dict once every field in `spec` that is present has one of its types; raises PayloadError."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise PayloadError("Expected an object")
    for name, types in spec.items():
        if name not in data:
            continue
        allowed = types if isinstance(types, tuple) else (types,)
        if not _type_ok(data[name], allowed):
            wanted = " or ".join(dict.fromkeys(NAMES.get(t, t.__name__) for t in allowed))
            raise PayloadError(f"{name} must be {wanted}", field=name)
    problem = find_problem({name: data[name] for name in spec if name in data})
    if problem is not None:
        raise PayloadError(f"{problem[0]} {problem[1]}", field=problem[0].split(".", 1)[0])
    return data
