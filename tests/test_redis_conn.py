"""The app's Redis client under a burst: more concurrent users than pooled connections wait, they do not fail."""

from __future__ import annotations

import threading

import redis

from callcenter.redis_conn import connect


def test_a_burst_beyond_the_pool_waits_for_a_free_connection_instead_of_failing(redis_server):
    client = connect(redis_server.url, max_connections=3)
    errors: list[Exception] = []
    done: list[int] = []

    def hold_a_connection(n: int) -> None:
        try:
            client.blpop([f"cc:test:burst:{n}"], timeout=0.2)  # keeps its connection for 0.2 s
            done.append(n)
        except redis.RedisError as exc:
            errors.append(exc)

    threads = [threading.Thread(target=hold_a_connection, args=(n,)) for n in range(9)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)

    assert errors == []
    assert sorted(done) == list(range(9))
    client.close()
