"""What every job needs: its own database session (never a request's) and the app's Redis."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import redis
from flask import Flask
from sqlalchemy.orm import Session

from callcenter.extensions import db
from callcenter.jobs import enqueue
from callcenter.services.jobs import Deferred


@contextmanager
def job_session() -> Iterator[Session]:
    """A session of the job's own: a job may run inside another session's after-commit (JOBS_INLINE) or in a
    worker's work horse, and must neither join nor commit anybody else's transaction."""
    with db.new_session() as session:
        yield session


def enqueue_once(app: Flask, r: redis.Redis, key: str, job: Deferred, ttl_seconds: int, now: float) -> bool:
    """Enqueue `job` unless another worker's ticker did for this slot (`key`, set once across every worker)."""
    if not r.set(key, repr(now), nx=True, ex=ttl_seconds):
        return False
    try:
        enqueue(app, [job])
    except redis.RedisError:
        r.delete(key)  # not enqueued: the next pass tries again
        raise
    return True
