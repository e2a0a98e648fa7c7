"""Work a service leaves for later: recorded with the transaction, handed to the job queue once it commits.

A webhook must answer with only what its TwiML needs; the rest (deriving the call record, wallboard figures,
agent-state history) is a job. Services say *what* must happen with `defer`; they never import RQ. The app
wiring (`callcenter.jobs`) installs the dispatcher that turns the intents into RQ jobs after the commit, so
rolled-back work never enqueues anything.

Jobs are named by dotted path (`workers.calls.derive_calls`) and take ids only; each must be idempotent, since a
retry or a worker killed mid-way runs it again.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from sqlalchemy.orm import Session

from callcenter.services import after_commit

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT_SECONDS = 60


@dataclass(frozen=True)
class Deferred:
    """One job to enqueue after commit.

    `key` identifies the work: the same key twice in one transaction is one job (the last one deferred), whose
    RQ job id is `job_id` (default: the key), so enqueueing the same job id again is a no-op. With `coalesce`,
    a job whose key is already pending (enqueued, not started yet) is not enqueued again: for recomputations
    such as today's wallboard figures, where one pending run covers every change made before it starts.
    """

    name: str
    args: tuple[int | str, ...]
    key: str
    queue: str = "default"
    timeout: int = DEFAULT_TIMEOUT_SECONDS
    coalesce: bool = False
    job_id: str | None = None
    # Seconds before each retry of a failing job (None: the product's default policy, callcenter.jobs).
    retry_intervals: tuple[int, ...] | None = None
    # With `coalesce`: one member (an id) of the work the pending run takes on. Many callers' members gather under
    # one key and one run takes them all (callcenter.jobs.gathered), so ten calls a second are not ten jobs a
    # second. Run inline, the job gets its member as its last argument instead.
    gather: str | None = None
    # With `coalesce`: the run waits this long in RQ's schedule before it may start, covering every change made
    # meanwhile, so a floor-wide recomputation runs about once per delay however busy the floor (0: at once).
    delay_seconds: int = 0


Dispatcher = Callable[[Session, Sequence[Deferred]], None]

_BUCKET = "jobs"
_dispatcher: Dispatcher | None = None


def defer(session: Session, name: str, *args: int | str, key: str, queue: str = "default",
          timeout: int = DEFAULT_TIMEOUT_SECONDS, coalesce: bool = False, job_id: str | None = None,
          retry_intervals: tuple[int, ...] | None = None, gather: str | None = None,
          delay_seconds: int = 0) -> None:
    """Run job `name(*args)` once the session's transaction commits (never for work that is rolled back).

    The caller owns the transaction: it must commit for the job to be enqueued.
    """
    if (gather is not None or delay_seconds) and not coalesce:
        raise ValueError("only a coalesced job gathers members or waits before it runs")
    item = Deferred(name, tuple(args), key, queue, timeout, coalesce, job_id, retry_intervals, gather,
                    delay_seconds)
    after_commit.add(session, _BUCKET, (key, gather), item)


def pending(session: Session) -> list[Deferred]:
    """Jobs waiting for this session's commit (for tests and diagnostics)."""
    return after_commit.pending(session, _BUCKET)


def set_dispatcher(dispatcher: Dispatcher | None) -> None:
    """Install what turns committed intents into queued jobs (the app wiring does, once per process)."""
    global _dispatcher
    _dispatcher = dispatcher


def _dispatch_committed(session: Session, deferred: list[Deferred]) -> None:
    if _dispatcher is None:
        log.warning("no job dispatcher installed: dropping %s", ", ".join(d.key for d in deferred))
        return
    try:
        _dispatcher(session, deferred)
    except Exception:  # the domain work is committed: a job that cannot be queued is logged, never raised
        log.exception("could not enqueue %s", ", ".join(d.key for d in deferred))


after_commit.register(_BUCKET, _dispatch_committed)
