"""Domain events: services publish plain facts; the realtime layer (and tests) subscribe.

Services never know who listens. Handlers run synchronously; a handler error is logged and never undoes domain
work. A service that publishes while its transaction holds uncommitted work uses `publish_after_commit`, so
handlers (which may use the database themselves) never run inside, or commit, the caller's transaction, and an
event is never published for work that is rolled back.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session

from callcenter.models.base import utcnow
from callcenter.services import after_commit
from callcenter.services import jobs as _jobs  # noqa: F401  (registered first: a commit's jobs, then its events)

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


_BUCKET = "events"


def publish_after_commit(session: Session, name: str, /, *, key: str | None = None, **payload: Any) -> None:
    """Publish once `session` commits (dropped on rollback). A `key` given twice keeps the last payload."""
    after_commit.add(session, _BUCKET, key or (name, len(after_commit.pending(session, _BUCKET))), (name, payload))


def _publish_committed(_session: Session, events: list[tuple[str, dict[str, Any]]]) -> None:
    for name, payload in events:
        publish(name, **payload)


after_commit.register(_BUCKET, _publish_committed)
