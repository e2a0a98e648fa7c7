"""Domain events: services publish plain facts; the realtime layer (and tests) subscribe.

Services never know who listens. Handlers run synchronously after the service's commit, so a handler error is
logged and never undoes domain work.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from callcenter.models.base import utcnow

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DomainEvent:
    """`name` like "agent.state_changed"; `payload` is JSON-ready."""

    name: str
    payload: dict[str, Any]
    occurred_at: str = field(default_factory=lambda: utcnow().isoformat())


Handler = Callable[[DomainEvent], None]


class EventBus:
    def __init__(self) -> None:
        self._handlers: list[Handler] = []

    def subscribe(self, handler: Handler, *, first: bool = False) -> None:
        """Call `handler` for every event; `first` puts it before the handlers already there."""
        if handler not in self._handlers:
            self._handlers.insert(0 if first else len(self._handlers), handler)

    def unsubscribe(self, handler: Handler) -> None:
        if handler in self._handlers:
            self._handlers.remove(handler)

    def publish(self, name: str, /, **payload: Any) -> DomainEvent:
        event = DomainEvent(name, payload)
        for handler in list(self._handlers):
            try:
                handler(event)
            except Exception:
                log.exception("event handler %r failed for %s", handler, name)
        return event


# The subscriber list is wiring (set up by init_app in each process), not shared state.
bus = EventBus()
publish = bus.publish
