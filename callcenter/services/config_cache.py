"""Process-local snapshots of the configuration every call reads and admins rarely change.

Queues (hours, timers, skills, priority rules) and IVR flows are read on every voice webhook; from the database that
is several queries per call. Each process keeps plain snapshots in memory instead. A change committed anywhere drops
them everywhere: in the committing process at commit, in the others through a Redis pub/sub message (the app wiring
in callcenter/config_sync.py subscribes to `changes` and relays them). A process that loses its subscription drops
everything when it subscribes again, and every snapshot also expires after `MAX_AGE_SECONDS`, so a lost message
costs bounded staleness, never a wrong answer forever.

Any flush that adds, changes or deletes a row of a watched model (`watch`) marks its namespace changed, so no edit
path can forget to; `changed(session, namespace)` marks one by hand. Nothing is announced for work that is rolled
back.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Hashable
from typing import Any, TypeVar

from sqlalchemy import event as sa_event
from sqlalchemy.orm import Session

log = logging.getLogger(__name__)
T = TypeVar("T")
MAX_AGE_SECONDS = 300.0

QUEUES = "queues"
IVR_FLOWS = "ivr_flows"
SKILLS = "skills"

ChangeListener = Callable[[str, Hashable | None], None]


class SnapshotCache:
    """Values by (namespace, key), each loaded once per process until dropped or older than `max_age`."""

    def __init__(self, max_age: float = MAX_AGE_SECONDS, clock: Callable[[], float] = time.monotonic) -> None:
        self.max_age = max_age
        self._clock = clock
        self._values: dict[tuple[str, Hashable], tuple[float, Any]] = {}
        self._generation = 0
        self._lock = threading.Lock()

    def get(self, namespace: str, key: Hashable, load: Callable[[], T]) -> T:
        """The cached value, or `load()`'s: kept unless it is None (a miss) or a drop happened while it loaded."""
        now = self._clock()
        with self._lock:
            hit = self._values.get((namespace, key))
            generation = self._generation
        if hit is not None and now - hit[0] < self.max_age:
            return hit[1]
        value = load()
        with self._lock:
            if value is not None and self._generation == generation:
                self._values[(namespace, key)] = (now, value)
        return value

    def drop(self, namespace: str, key: Hashable | None = None) -> None:
        """Forget one value, or (key None) the whole namespace."""
        with self._lock:
            self._generation += 1
            if key is None:
                for stored in [k for k in self._values if k[0] == namespace]:
                    del self._values[stored]
            else:
                self._values.pop((namespace, key), None)

    def clear(self) -> None:
        with self._lock:
            self._generation += 1
            self._values.clear()


# The process's cache and the relay that tells other processes (wiring set by the app; each process has its own).
cache = SnapshotCache()
_relay: ChangeListener | None = None
_PENDING = "callcenter.config_cache.changed"


def relay_changes_with(relay: ChangeListener | None) -> None:
    """After each committed change, call `relay(namespace, key)` (the app publishes it to other processes)."""
    global _relay
    _relay = relay


def changed(session: Session, namespace: str, key: Hashable | None = None) -> None:
    """Configuration in `namespace` was edited in this transaction: drop the snapshots when it commits."""
    session.info.setdefault(_PENDING, set()).add((namespace, key))


_watched: dict[type, str] = {}


def watch(model: type, namespace: str) -> None:
    """Rows of `model` feed the snapshots of `namespace`: writing one drops them at commit."""
    _watched[model] = namespace


@sa_event.listens_for(Session, "after_flush")
def _note_watched_writes(session: Session, _context: Any) -> None:
    for instance in (*session.new, *session.dirty, *session.deleted):
        namespace = _watched.get(type(instance))
        if namespace is not None:
            changed(session, namespace)


@sa_event.listens_for(Session, "after_commit")
def _announce(session: Session) -> None:
    for namespace, key in session.info.pop(_PENDING, set()):
        cache.drop(namespace, key)
        if _relay is None:
            continue
        try:
            _relay(namespace, key)
        except Exception:  # the change is committed; relaying it must never fail the caller
            log.exception("could not relay the change of %s %r", namespace, key)


@sa_event.listens_for(Session, "after_rollback")
def _forget(session: Session) -> None:
    session.info.pop(_PENDING, None)
