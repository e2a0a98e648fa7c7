"""What every job needs: its own database session (never a request's) and the app's Redis."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy.orm import Session

from callcenter.extensions import db


@contextmanager
def job_session() -> Iterator[Session]:
    """A session of the job's own: a job may run inside another session's after-commit (JOBS_INLINE) or in a
    worker's work horse, and must neither join nor commit anybody else's transaction."""
    with db.new_session() as session:
        yield session
