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


GEVENT_BURST = """
import callcenter.redis_conn  # imported before the patching, as in gunicorn's master process (redis with it)
from gevent import monkey; monkey.patch_all()
import json, sys
import gevent, gevent.queue
from callcenter.redis_conn import connect

client = connect(sys.argv[1], max_connections=3)
errors, done = [], []

def hold_a_connection(n):
    try:
        client.blpop([f"cc:test:gburst:{n}"], timeout=0.2)
        done.append(n)
    except Exception as exc:
        errors.append(repr(exc))

gevent.joinall([gevent.spawn(hold_a_connection, n) for n in range(9)], timeout=10)
print(json.dumps({"queue": type(client.connection_pool.pool).__module__, "done": sorted(done), "errors": errors}))
"""


def test_under_gevent_the_pool_queues_on_gevent_and_a_burst_still_waits(redis_server):
    import json
    import subprocess
    import sys

    run = subprocess.run([sys.executable, "-c", GEVENT_BURST, redis_server.url], capture_output=True, text=True,
                         timeout=60)
    assert run.returncode == 0, run.stderr
    report = json.loads(run.stdout.strip().splitlines()[-1])
    # The standard library's queue takes a thread lock on every checkout and return; gevent's does not.
    assert report["queue"].startswith("gevent."), report
    assert (report["done"], report["errors"]) == (list(range(9)), [])
