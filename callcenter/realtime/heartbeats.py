"""Heartbeat answers of one web process, written to Redis together.

Every console answers a heartbeat every few seconds: at 500 agents about fifty answers a second reach each web
process, and one Redis round trip per answer was a steady share of its CPU (and of Redis's commands). The answer
is acknowledged at once; the answering agents are gathered for a fifth of a second and written in one round
trip. A console's "unreachable" flag therefore clears that much later, against a timeout of several seconds.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

import redis

from callcenter.services import reachability

log = logging.getLogger(__name__)

GATHER_SECONDS = 0.2


class AnswerBatch:
    """Gathers answering agents; the first answer of a batch starts a task that writes the batch after a while."""

    def __init__(self, r: redis.Redis, start_task: Callable[[Callable[[], None]], Any],
                 sleep: Callable[[float], None], gather_seconds: float = GATHER_SECONDS) -> None:
        self._redis = r
        self._start_task = start_task
        self._sleep = sleep
        self._gather_seconds = gather_seconds
        self._lock = threading.Lock()
        self._pending: set[int] = set()
        self._scheduled = False

    def add(self, agent_id: int) -> None:
        with self._lock:
            self._pending.add(agent_id)
            if self._scheduled:
                return
            self._scheduled = True
        self._start_task(self._write_later)

    def _write_later(self) -> None:
        self._sleep(self._gather_seconds)
        with self._lock:
            agent_ids, self._pending, self._scheduled = self._pending, set(), False
        try:
            reachability.heartbeats_answered(self._redis, agent_ids)
        except redis.RedisError as exc:  # the next answers, a few seconds later, try again
            log.warning("could not record %d heartbeat answers (Redis: %s)", len(agent_ids), exc)
