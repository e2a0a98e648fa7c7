"""A bare RQ worker with the app's context and no scheduler, for tests that kill a worker mid-job."""

from __future__ import annotations

import redis
from rq import Queue, Worker

from callcenter import create_app

if __name__ == "__main__":
    app = create_app()
    connection = redis.Redis.from_url(app.config["REDIS_URL"])
    with app.app_context():
        Worker([Queue("default", connection=connection)], connection=connection).work()
