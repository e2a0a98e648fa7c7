"""A bare RQ worker with the app's context (no housekeeping ticker), for tests that kill a worker mid-job.

`--with-scheduler` also runs RQ's scheduler, which enqueues retries when their backoff is over.
"""

from __future__ import annotations

import sys

import redis
from rq import Queue, Worker

from callcenter import create_app

if __name__ == "__main__":
    app = create_app()
    connection = redis.Redis.from_url(app.config["REDIS_URL"])
    with app.app_context():
        Worker([Queue("default", connection=connection)], connection=connection).work(
            with_scheduler="--with-scheduler" in sys.argv)
