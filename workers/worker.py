"""The RQ worker process: named queues, the built-in scheduler, and RQ's heartbeat for /healthz.

Jobs run in the worker process itself (RQ's SimpleWorker), not in a work horse forked per job. Our jobs are short,
idempotent database jobs (deriving a call, persisting agent-state history, wallboard figures), several per call:
a fork per job cost a fresh process and a fresh database connection each time, and forking while the ticker or the
configuration subscriber thread held a lock left a work horse hung (seen in the kill test). Timeouts still apply
(RQ's SIGALRM death penalty in the main thread); a worker that dies mid-job is restarted by its supervisor and
RQ's started-job cleanup runs the job again.
"""

from __future__ import annotations

import os

import redis
from flask import Flask
from rq import SimpleWorker

from callcenter import config_sync
from callcenter.extensions import db
from callcenter.jobs import QUEUES
from workers.ticker import Ticker

# How often a worker cleans RQ's registries (giving a dead worker's started jobs back to their retry policy) and
# takes over a dead scheduler's locks. RQ's default is 10 minutes: a call record would wait that long after a crash.
MAINTENANCE_SECONDS = 30


def _fresh_connections_in_child() -> None:
    """A forked child (RQ's scheduler) must open its own database connections, not share the parent's."""
    if db.engine is not None:
        db.engine.dispose(close=False)


os.register_at_fork(after_in_child=_fresh_connections_in_child)


def run_worker(app: Flask, queues: tuple[str, ...] = QUEUES, burst: bool = False) -> bool:
    """Work jobs with the app context pushed; `--with-scheduler` semantics so enqueue_in/at run on time.

    Every worker also runs the housekeeping ticker (offer and wrap-up timers, heartbeats, repairs); a Redis
    lease lets only one of them act each second.
    """
    # RQ blocks on BLPOP for up to worker_ttl - 15 s: its connection must not time out sooner, unlike the
    # app's fail-fast client (get_redis), whose 5 s socket timeout made the worker quit when idle.
    connection = redis.Redis.from_url(app.config["REDIS_URL"], health_check_interval=30)
    if not burst:
        config_sync.start_subscriber(app)
    ticker = None if burst else Ticker(app).start()
    try:
        with app.app_context():
            worker = SimpleWorker(list(queues), connection=connection, worker_ttl=app.config["WORKER_TTL_SECONDS"],
                                  maintenance_interval=MAINTENANCE_SECONDS)
            return worker.work(with_scheduler=True, burst=burst)
    finally:
        if ticker is not None:
            ticker.stop()
