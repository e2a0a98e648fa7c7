"""SQLite connections stay small: the web process pools dozens of them under gevent."""

from __future__ import annotations

import os
import sqlite3

from sqlalchemy import text

from callcenter.db import SQLITE_CACHE_KIB, make_engine


def _rss_kib() -> int:
    with open("/proc/self/status") as status:
        return int(status.read().split("VmRSS:")[1].split()[0])


def test_forty_pooled_connections_reading_a_large_database_cache_little_memory(tmp_path):
    path = tmp_path / "big.sqlite"
    with sqlite3.connect(path) as raw:
        raw.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, a TEXT)")
        raw.executemany("INSERT INTO t (a) VALUES (?)", [("x" * 200,) for _ in range(60_000)])
    assert os.path.getsize(path) > 10 * 2**20
    engine = make_engine(f"sqlite:///{path}", pool_size=40)
    connections = [engine.connect() for _ in range(40)]
    before = _rss_kib()

    for connection in connections:
        connection.execute(text("SELECT count(*), max(length(a)) FROM t")).all()
    grown_kib = _rss_kib() - before

    for connection in connections:
        connection.close()
    engine.dispose()
    # SQLite's default 2 MB page cache per connection grew this by ~78 MB; ours is SQLITE_CACHE_KIB each.
    assert grown_kib < 40 * SQLITE_CACHE_KIB * 2
