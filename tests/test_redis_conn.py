"""The app's Redis client under a burst: hundreds of concurrent users (greenlets in production) each get a
connection, where redis-py's default pool fails at its 100th."""

from __future__ import annotations

import threading

import redis

from callcenter.redis_conn import connect


def test_a_burst_of_150_concurrent_users_each_gets_a_connection(redis_server):
    client = connect(redis_server.url)
    errors: list[Exception] = []
    done: list[int] = []
    start = threading.Barrier(150)

    def hold_a_connection(n: int) -> None:
        try:
            start.wait(timeout=10)
            client.blpop([f"cc:test:burst:{n}"], timeout=0.5)  # keeps its connection for 0.5 s
            done.append(n)
        except (redis.RedisError, threading.BrokenBarrierError) as exc:
            errors.append(exc)

    threads = [threading.Thread(target=hold_a_connection, args=(n,)) for n in range(150)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=20)

    assert errors == []
    assert sorted(done) == list(range(150))
    client.close()
