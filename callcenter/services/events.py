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

from sqlalchemy import event as sa_event
from sqlalchemy.orm import Session

from callcenter.models.base import utcnow
from callcenter.services import jobs as _jobs  # noqa: F401  (its after-commit hook runs first: jobs, then events)

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


_PENDING = "callcenter.events.pending"


def publish_after_commit(session: Session, name: str, /, *, key: str | None = None, **payload: Any) -> None:
    """Publish once `session` commits (dropped on rollback). A `key` given twice keeps the last payload."""
    pending = session.info.setdefault(_PENDING, {})
    pending[key or (name, len(pending))] = (name, payload)


@sa_event.listens_for(Session, "after_commit")
def _publish_pending(session: Session) -> None:
    for name, payload in session.info.pop(_PENDING, {}).values():
        publish(name, **payload)


@sa_event.listens_for(Session, "after_rollback")
def _drop_pending(session: Session) -> None:
    session.info.pop(_PENDING, None)
