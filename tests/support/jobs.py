"""Running RQ jobs inside a test: a burst worker in this process, after the delays of scheduled jobs have passed."""

from __future__ import annotations

from flask import Flask
from rq import Queue, SimpleWorker

from callcenter.jobs import QUEUES
from callcenter.redis_conn import get_redis


def release_scheduled(app: Flask, names: tuple[str, ...] = QUEUES) -> int:
    """Move every job waiting in RQ's schedule to its queue now, as RQ's scheduler does once its delay has passed
    (a delayed job, such as the coalesced derivation, or a retry's backoff); returns how many moved."""
    r = get_redis(app)
    moved = 0
    for name in names:
        queue = Queue(name, connection=r)
        registry = queue.scheduled_job_registry
        for job in queue.job_class.fetch_many(registry.get_job_ids(), connection=r):
            if job is not None:
                registry.remove(job)
                queue.enqueue_job(job)
                moved += 1
    return moved


def run_queued_jobs(app: Flask, names: tuple[str, ...] = QUEUES) -> None:
    """Work every queued and scheduled job in this process, then stop (RQ's burst mode; no fork)."""
    release_scheduled(app, names)
    r = get_redis(app)
    SimpleWorker([Queue(name, connection=r) for name in names], connection=r).work(burst=True)
