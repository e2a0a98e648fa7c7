"""The production web server: gunicorn's gevent worker serving the Flask-SocketIO app.

Agents' and supervisors' sockets cost a greenlet each, not an OS thread: gunicorn's gevent worker patches the
process before the app is loaded, and create_app then picks Flask-SocketIO's gevent mode (websockets through
simple-websocket on gevent's primitives). `WEB_PROCESSES` gunicorn workers share the port; Socket.IO events reach
every process through the Redis message queue. Consoles connect with the websocket transport first, so a socket
stays on the process that accepted it; a client that falls back to long-polling needs one process (or sticky
sessions at a load balancer in front of several servers).
"""

from __future__ import annotations

import gc
import logging
import os
from typing import Any

from gunicorn.app.base import BaseApplication

log = logging.getLogger(__name__)


class WebServer(BaseApplication):
    def __init__(self, options: dict[str, Any]) -> None:
        self.options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self):
        # Built in the worker process, after fork and after gevent's monkey patching, so no connection is shared
        # across processes and every lock and socket the app creates is cooperative.
        from callcenter import config_sync, create_app
        from callcenter.db import checkpoint_off_the_hub
        from callcenter.extensions import db

        keep_large_blocks_out_of_the_heap()
        app = create_app({"DATABASE_APPLICATION_NAME": "callcenter web"})
        config_sync.start_subscriber(app)
        checkpoint_off_the_hub(db.engine)
        hash_passwords_off_the_hub()
        _dump_greenlets_on_signal()
        spawn_greenlets_without_their_stack()
        freeze_startup_objects()
        return app


# Blocks from this size up are mapped for themselves and unmapped when freed (glibc's default threshold is 128 KiB).
LARGE_BLOCK_BYTES = 1024 * 1024


def keep_large_blocks_out_of_the_heap() -> None:
    """Fix glibc's threshold for mapping a large block by itself, which it otherwise raises to the size of every
    larger block freed (up to 32 MiB).

    A login's Argon2 verification takes 19 MiB. The process's first hash (at import, on the main thread) was mapped
    and unmapped, and raised the threshold; the logins' verifications then came from the hashing thread's heap,
    which kept the 19 MiB after they were freed: a web worker
    stayed 19-20 MB larger for the rest of its life (193 MB instead of 174 in a bench run; measured alone, 40
    logins in a gevent process left 19.2 MB behind, 0.2 MB with the threshold fixed). Elsewhere than glibc,
    nothing changes."""
    import ctypes
    import ctypes.util

    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c"))
        mallopt = libc.mallopt
    except (OSError, AttributeError, TypeError):
        return
    m_mmap_threshold = -3  # glibc's malloc.h
    if not mallopt(m_mmap_threshold, LARGE_BLOCK_BYTES):
        log.warning("could not fix the allocator's mmap threshold")


def spawn_greenlets_without_their_stack() -> None:
    """gevent copies its spawner's stack into every greenlet it starts (one per request, socket and Engine.IO task):
    a cost at each spawn, and 10,000 objects of a busy web worker for the garbage collector to walk. Only the
    greenlet dump's "spawned at" lines used them; what each greenlet is doing is still dumped."""
    import gevent

    gevent.config.track_greenlet_tree = False


# A full collection every this many collections of the middle generation (Python's default: 10).
FULL_COLLECTION_EVERY = 100


def freeze_startup_objects() -> None:
    """Keep what the app's start-up made (modules, classes, routes, the SDKs: about 220,000 objects) out of the
    garbage collector's full passes, and make those passes rarer.

    Each full pass walked them all and stopped every request and socket of the process for 180-300 ms, every half
    minute under load: the webhooks' p99. Frozen, they live as long as the process. What a pass still walks is
    mostly the sockets' objects (70,000 at 250 consoles, 40-150 ms); at Python's default rhythm that was a pass
    every 15 s of calls; a 300-call bench now sees one, at its end. Cyclic garbage waits longer for it: the passes
    freed a few thousand objects each, a few MB at most."""
    gc.collect()
    gc.freeze()
    young, middle, _ = gc.get_threshold()
    gc.set_threshold(young, middle, FULL_COLLECTION_EVERY)


def hash_passwords_off_the_hub() -> None:
    """Logins hash in a thread of gevent's pool, one at a time: on the hub, each 67 ms Argon2 verification stopped
    every request and socket of the process (and the library's former 64 MiB profile took 260 ms)."""
    import gevent
    from gevent.lock import BoundedSemaphore

    from callcenter.services import auth

    one_at_a_time = BoundedSemaphore(1)
    pool = gevent.get_hub().threadpool

    def in_the_pool(work):
        with one_at_a_time:
            return pool.apply(work)

    auth.run_hashing_with(in_the_pool)


def _dump_greenlets_on_signal() -> None:
    """`kill -USR2 <web worker pid>` logs what every greenlet is doing: where a stalled request waits (a lock, the
    pool, Redis, the carrier), which a thread-level profiler cannot see under gevent."""
    import signal

    from gevent import util

    def dump(_signum, _frame) -> None:
        log.warning("greenlets of web worker %s:\n%s", os.getpid(), "\n".join(util.format_run_info()))

    signal.signal(signal.SIGUSR2, dump)


# What each access-log line says: method, path, status, and the time the server spent on it in microseconds.
ACCESS_LOG_FORMAT = '%(m)s %(U)s %(s)s %(D)s'


def serve(host: str, port: int, processes: int = 1, connections: int = 2000, access_log: str | None = None) -> None:
    WebServer(
        {
            "bind": f"{host}:{port}",
            "workers": max(processes, 1),
            "worker_class": "gevent",
            "worker_connections": connections,
            "timeout": 60,
            "graceful_timeout": 10,
            "accesslog": access_log,
            "access_log_format": ACCESS_LOG_FORMAT,
            "errorlog": "-",
            "control_socket_disable": True,  # several instances on one machine must not fight over it
        }
    ).run()
