"""App wiring of deferred work: what services `defer` becomes an RQ job once their transaction commits.

Every job is enqueued by dotted name with ids only, with a timeout (stated where the service defers it) and
`RETRY` (failures are retried with backoff, then land in RQ's failed registry, which /admin shows). Enqueueing
happens after the commit and never fails the request that caused it: with Redis down the webhook still answers
and the lost job is logged (deriving a call can be re-run at any time).

With `JOBS_INLINE` (the test suite) jobs run synchronously in this process right after the commit, called by name
as a worker would call them, so scenarios see their effects without waiting for a worker.
"""

from __future__ import annotations

import importlib
import logging
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import redis
from flask import Flask, current_app, g, has_app_context, has_request_context
from rq import Queue, Retry, get_current_job
from sqlalchemy.orm import Session

from callcenter.background import beside_the_request
from callcenter.models import Call
from callcenter.redis_conn import get_redis
from callcenter.services import jobs
from callcenter.services.jobs import Deferred

log = logging.getLogger(__name__)

# Named queues, most urgent first: a worker drains them in this order.
QUEUES = ("realtime", "default", "callbacks", "dialer", "maintenance")
RETRY_INTERVALS = [1, 2, 5, 10, 30]


def retry_policy() -> Retry:
    """Five more tries, backing off from 1 s to 30 s; then the job is in the failed registry."""
    return Retry(max=len(RETRY_INTERVALS), interval=RETRY_INTERVALS)


def pending_flag(key: str) -> str:
    """Redis key saying a coalesced job for `key` is queued and has not started yet."""
    return f"cc:jobs:pending:{key}"


def claim(r: redis.Redis, key: str) -> None:
    """Called by a coalesced job as it starts: changes made from now on need another run, so let them enqueue it."""
    r.delete(pending_flag(key))


def rq_queue(app: Flask, name: str) -> Queue:
    """The app's RQ queue `name`, built once per process (a Queue asks the server's version on first use)."""
    queues = app.extensions.setdefault("callcenter.rq_queues", {})
    if name not in queues:
        queues[name] = Queue(name, connection=get_redis(app))
    return queues[name]


def enqueue(app: Flask, deferred: Sequence[Deferred]) -> list[str]:
    """Put deferred work on its RQ queues (or run it now when JOBS_INLINE); returns the job ids enqueued."""
    if app.config["JOBS_INLINE"]:
        for item in deferred:
            run_inline(item)
        return []
    r = get_redis(app)
    coalesced = {item.key: item for item in deferred if item.coalesce}
    if coalesced:  # one round trip: the gathered members, then which coalesced jobs are not pending yet
        with r.pipeline(transaction=False) as pipe:
            for item in deferred:
                if item.gather is not None:  # before the flag: a run that starts in between takes it, or the next
                    pipe.sadd(gathered_key(item.key), item.gather)
            for key, item in coalesced.items():
                pipe.set(pending_flag(key), "1", nx=True, ex=item.delay_seconds + item.timeout + 300)
            claimed = dict(zip(coalesced, pipe.execute()[-len(coalesced):], strict=True))
    by_queue: dict[str, list[Any]] = {}
    later: list[tuple[Deferred, str]] = []
    for item in deferred:
        job_id = item.job_id or item.key
        if item.coalesce:
            if not claimed[item.key]:
                continue  # one run is already waiting (or enqueued just now): it will see this change too
            claimed[item.key] = False
            job_id = f"{item.key}-{uuid.uuid4().hex[:12]}"
        if item.delay_seconds:
            later.append((item, job_id))
            continue
        by_queue.setdefault(item.queue, []).append(Queue.prepare_data(
            item.name, args=item.args, timeout=item.timeout, job_id=job_id, description=item.key,
            retry=_retry_of(item)))
    enqueued = []
    with r.pipeline() as pipe:  # one more round trip for all the jobs
        for name, datas in by_queue.items():
            enqueued += [job.id for job in rq_queue(app, name).enqueue_many(datas, pipeline=pipe)]
        for item, job_id in later:
            queue = rq_queue(app, item.queue)
            job = queue.create_job(item.name, args=item.args, timeout=item.timeout, job_id=job_id,
                                   description=item.key, retry=_retry_of(item))
            queue.schedule_job(job, datetime.now(UTC) + timedelta(seconds=item.delay_seconds), pipeline=pipe)
            enqueued.append(job.id)
        pipe.execute()
    return enqueued


def _retry_of(item: Deferred) -> Retry:
    if item.retry_intervals is None:
        return retry_policy()
    return Retry(max=len(item.retry_intervals), interval=list(item.retry_intervals))


def gathered_key(key: str) -> str:
    """Redis set of the members gathered for the next run of the coalesced job `key`."""
    return f"cc:jobs:gathered:{key}"


GATHERED_TTL_SECONDS = 7 * 24 * 3600


@contextmanager
def gathered(r: redis.Redis, key: str, run_id: str | None = None) -> Iterator[list[str]]:
    """Start a run of the gathering job `key`: claim it, and take every member gathered so far.

    The members move to a set of this run's own (RQ's job id): a run killed half-way finds them there when RQ
    runs it again, and they are dropped only once the work succeeded. Members gathered from now on enqueue the
    next run."""
    if run_id is None:
        job = get_current_job()
        run_id = job.id if job is not None else uuid.uuid4().hex
    taken = f"{gathered_key(key)}:{run_id}"
    claim(r, key)  # before the move: a member added after it finds no pending flag, and enqueues the next run
    with r.pipeline() as pipe:  # MULTI: the whole set moves at once
        pipe.sunionstore(taken, [taken, gathered_key(key)])
        pipe.delete(gathered_key(key))
        pipe.smembers(taken)
        pipe.expire(taken, GATHERED_TTL_SECONDS)
        members = pipe.execute()[2]
    yield sorted(m.decode() if isinstance(m, bytes) else m for m in members)
    r.delete(taken)


def run_inline(item: Deferred) -> None:
    """Run a job's function here and now, as a worker would (by name, ids only); a failure is logged."""
    module_name, _, function_name = item.name.rpartition(".")
    args = item.args if item.gather is None else (*item.args, item.gather)
    try:
        getattr(importlib.import_module(module_name), function_name)(*args)
    except Exception:
        log.exception("job %s failed", item.key)


_REQUEST_BATCH = "callcenter_jobs_batch"


def _enqueue_logged(app: Flask, deferred: Sequence[Deferred]) -> None:
    try:
        enqueue(app, deferred)
    except redis.RedisError as exc:
        log.error("could not enqueue %s (Redis: %s); re-run them when Redis is back",
                  ", ".join(d.key for d in deferred), exc)


def init_app(app: Flask) -> None:
    """Install the after-commit dispatcher: intents recorded by services become jobs of this app's Redis.

    Within a request, the jobs committed by all its transactions are enqueued together when the request ends
    (one or two Redis round trips, instead of a couple per commit); elsewhere (ticker, jobs, CLI) at once.
    """

    def dispatch(session: Session, deferred: Sequence[Deferred]) -> None:
        target = current_app._get_current_object() if has_app_context() else app  # type: ignore[attr-defined]
        if target.config["JOBS_INLINE"]:
            _enqueue_logged(target, deferred)
            # The jobs ran in their own sessions: the call records this session holds are stale (only those:
            # expiring everything would break objects the caller keeps using after closing the session).
            for obj in list(session.identity_map.values()):
                if isinstance(obj, Call):
                    session.expire(obj)
        elif has_request_context():
            g.setdefault(_REQUEST_BATCH, {}).update({(d.job_id or d.key, d.gather): d for d in deferred})
        else:
            _enqueue_logged(target, deferred)

    @app.teardown_request
    def _enqueue_request_batch(_exc: BaseException | None) -> None:
        # Beside the request in the gevent web server: teardown runs before the answer is sent, and the jobs'
        # round trips to Redis were time every webhook's caller waited for.
        batch = g.pop(_REQUEST_BATCH, None)
        if batch:
            target = current_app._get_current_object()  # type: ignore[attr-defined]
            beside_the_request(_enqueue_logged, target, list(batch.values()), what="enqueueing the request's jobs")

    jobs.set_dispatcher(dispatch)
