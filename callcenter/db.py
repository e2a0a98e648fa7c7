"""Engine and session handling: one engine per app, one session per request, job or CLI command.

The request session is scoped to the current greenlet, not to a `threading.local`: under gunicorn's gevent worker
the registry is created at import time, before gevent monkey-patches `threading`, so a thread-local registry would
hand one session to every greenlet of the process (concurrent requests then commit and close each other's session:
"IllegalStateChangeError", HTTP 500 on webhooks). In threading mode each thread has its own main greenlet, so the
same scope is per thread there.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TYPE_CHECKING
from urllib.parse import quote

import greenlet
from flask import Flask
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.orm import Session, scoped_session, sessionmaker

from callcenter.services import storable  # noqa: F401  (registers the check of every flush)
from callcenter.services.round_trips import ENDS_TRANSACTION
from callcenter.settings import gevent_patched

if TYPE_CHECKING:
    from gevent import Greenlet

log = logging.getLogger(__name__)


def current_greenlet_id() -> int:
    """The scope of a request session: the running greenlet (a thread's main greenlet in threading mode)."""
    return id(greenlet.getcurrent())


# The moment (time.monotonic()) by which the current request must have its answer, when it has a budget: a
# voice webhook must answer the carrier within its 15 s, so waiting 30 s for another writer's lock loses the caller.
_wait_deadline: ContextVar[float | None] = ContextVar("callcenter_db_wait_deadline", default=None)
# Whether transactions begun now may commit without waiting for PostgreSQL to flush their WAL (see
# asynchronous_commit).
_asynchronous_commit: ContextVar[bool] = ContextVar("callcenter_db_asynchronous_commit", default=False)
_SQLITE_BUSY_MS = "callcenter.sqlite_busy_timeout_ms"


@contextmanager
def wait_budget(seconds: float) -> Iterator[None]:
    """Within this block a statement waits at most until `seconds` from now for a lock (another writer, a long
    transaction), then fails with the driver's "locked" / "lock timeout" error instead of waiting on."""
    token = _wait_deadline.set(time.monotonic() + seconds)
    try:
        yield
    finally:
        _wait_deadline.reset(token)


@contextmanager
def asynchronous_commit(enabled: bool = True) -> Iterator[None]:
    """PostgreSQL: a transaction begun in this block commits without waiting for its WAL to reach the disk
    (`synchronous_commit = off` for that transaction only). A crash of the database server (not of ours) may lose
    the last fraction of a second of such commits, never half of one: SQLite in WAL mode with synchronous=NORMAL,
    the embedded default, makes the same trade. Worth it where a commit's wait is someone's wait: a disk whose
    flushes stall for hundreds of milliseconds held every webhook committing meanwhile for as long. No effect on
    SQLite, nor with `enabled` false."""
    token = _asynchronous_commit.set(enabled)
    try:
        yield
    finally:
        _asynchronous_commit.reset(token)


def _budget_left(default: float) -> float:
    """Seconds a statement may wait for a lock now: the budget's remainder (at least 1 ms), else `default`."""
    deadline = _wait_deadline.get()
    if deadline is None:
        return default
    return max(0.001, min(default, deadline - time.monotonic()))


def make_engine(url: str, pool_size: int = 10, application_name: str = "callcenter") -> Engine:
    """Create an engine; SQLite gets foreign keys, WAL and a busy timeout so web and worker can share the file.

    On PostgreSQL its connections are named `application_name` (the process kind: web, worker), which the
    server shows in pg_stat_activity and, with %a in log_line_prefix, in its log: which process held the lock
    or waited for a slow commit."""
    if url.startswith("sqlite"):
        cooperative = gevent_patched()
        # Under gevent SQLite must never wait in its own busy handler (a C sleep that stops every greenlet):
        # it answers "locked" at once and _wait_cooperatively_when_busy retries with gevent's sleep.
        busy_timeout = 0 if cooperative else SQLITE_LOCK_TIMEOUT_SECONDS
        # Each concurrent request or socket event holds a connection until it ends: under gevent hundreds run at
        # once, and SQLAlchemy's default pool (5 + 10) made them wait 30 s for a connection.
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": busy_timeout},
                               pool_size=pool_size, max_overflow=2 * pool_size)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection, _record) -> None:
            cursor = dbapi_connection.cursor()
            for pragma in ("PRAGMA foreign_keys=ON", "PRAGMA journal_mode=WAL", "PRAGMA synchronous=NORMAL",
                           f"PRAGMA cache_size=-{SQLITE_CACHE_KIB}"):
                _retry_while_locked(lambda pragma=pragma: cursor.execute(pragma))
            cursor.close()

        _serialise_sqlite_writers(engine)
        if cooperative:
            _wait_cooperatively_when_busy(engine)
        else:
            _busy_timeout_within_budget(engine)
        return engine
    # Last in, first out: a request gets the connection used most recently, whose server process has just run.
    # Handed out in turn (SQLAlchemy's default), each of a web process's 20 pooled connections sat idle for
    # seconds between two uses, and the menu webhook's one statement took 0.1-0.2 ms longer on its cold backend
    # (the benchmark's unloaded phase, 500 consoles connected). The connections a quiet hour leaves unused are
    # checked when next used (PING_AFTER_IDLE_SECONDS).
    engine = create_engine(url, pool_size=pool_size, max_overflow=2 * pool_size, pool_use_lifo=True,
                           connect_args={"application_name": application_name})
    _ping_idle_connections(engine)
    _begin_with_the_first_statement(engine)
    return engine


# A pooled connection left unused this long is checked with a round trip before it is used again: the server may
# have restarted, or a firewall dropped the idle connection. One used more recently is trusted. SQLAlchemy's
# pool_pre_ping paid that round trip at every checkout, each transaction of every webhook, and under gevent every
# round trip is a wait for a turn on a busy process's event loop.
PING_AFTER_IDLE_SECONDS = 10.0
_IDLE_SINCE = "callcenter.idle_since"


def _ping_idle_connections(engine: Engine) -> None:
    """Pessimistic disconnect handling for idle connections only. A failed ping raises DisconnectionError: the
    pool then drops the connection and checks out another (or opens a new one), and the caller sees nothing.
    A connection that dies while trusted fails its statement; SQLAlchemy then invalidates the whole pool, so
    one transaction per process fails after a database restart (a webhook answers its fallback and retries)."""

    def _idle_from_now(_dbapi_connection, record, *_args) -> None:
        record.info[_IDLE_SINCE] = time.monotonic()

    def _ping_if_idle(dbapi_connection, record, _proxy) -> None:
        idle_since = record.info.get(_IDLE_SINCE)
        if idle_since is not None and time.monotonic() - idle_since < PING_AFTER_IDLE_SECONDS:
            return
        try:
            engine.dialect.do_ping(dbapi_connection)
        except engine.dialect.loaded_dbapi.Error as exc:
            raise DisconnectionError(f"a pooled connection idle since {idle_since} is gone: {exc}") from exc

    event.listen(engine.pool, "connect", _idle_from_now)
    event.listen(engine.pool, "checkin", _idle_from_now)
    event.listen(engine.pool, "checkout", _ping_if_idle)


def _busy_timeout_within_budget(engine: Engine) -> None:
    """SQLite's busy handler waits at most what is left of the request's budget (else the usual 30 s)."""

    @event.listens_for(engine, "before_cursor_execute")
    def _set_busy_timeout(conn, cursor, *_args) -> None:
        wanted = int(_budget_left(SQLITE_LOCK_TIMEOUT_SECONDS) * 1000)
        if conn.info.get(_SQLITE_BUSY_MS, int(SQLITE_LOCK_TIMEOUT_SECONDS * 1000)) != wanted:
            cursor.connection.execute(f"PRAGMA busy_timeout = {wanted}")
            conn.info[_SQLITE_BUSY_MS] = wanted


def _begin_with_the_first_statement(engine: Engine) -> None:
    """PostgreSQL: a transaction's BEGIN, its settings and its first statement go to the server in one round trip.

    psycopg sends BEGIN alone before a transaction's first statement, and the settings went alone after it: three
    round trips before the first row, each a wait for a turn on a busy web process's event loop, where a webhook
    that only appends an event needs one. So the driver's connections are in autocommit mode, and the first
    statement of each of SQLAlchemy's transactions is sent as one simple-protocol message, "BEGIN; SELECT
    set_config(...); <statement>" with its parameters bound by psycopg's client-side binding (ClientCursor);
    PostgreSQL keeps the transaction open after the message, and COMMIT or ROLLBACK end it as before. Later
    statements keep server-side binding and psycopg's prepared statements.

    The settings: a transaction begun within a budget gets lock and statement timeouts of what is left of it; one
    begun in `asynchronous_commit` does not wait for its WAL at commit. set_config(..., true) is SET LOCAL: it ends
    with the transaction, so the pooled connection goes back to waiting as long as needed, and to durable commits.
    A server-side cursor (yield_per) or an executemany cannot carry them: those get the opening in a round trip of
    its own. SQLAlchemy's AUTOCOMMIT isolation level, and any other it sets, are left to psycopg as they were.
    A statement run with `round_trips.ending_the_transaction` carries its COMMIT too."""
    import psycopg

    idle = psycopg.pq.TransactionStatus.IDLE

    @event.listens_for(engine.pool, "connect")
    def _driver_autocommit(dbapi_connection, _record) -> None:
        dbapi_connection.autocommit = True

    @event.listens_for(engine.pool, "checkout")
    def _back_to_driver_autocommit(dbapi_connection, _record, _proxy) -> None:
        if not dbapi_connection.autocommit and dbapi_connection.info.transaction_status == idle:
            dbapi_connection.autocommit = True  # SQLAlchemy reset an isolation level it had set at checkin

    def _opening(cursor, context) -> str | None:
        """What goes before the statement: "BEGIN; <settings>; " when it begins a transaction, "" within one; None
        when the driver manages the connection's transactions (an isolation level SQLAlchemy set)."""
        dbapi_connection = cursor.connection
        if not dbapi_connection.autocommit or context.execution_options.get("isolation_level") == "AUTOCOMMIT":
            return None
        if dbapi_connection.info.transaction_status != idle:
            return ""
        calls = _settings_calls()
        return "BEGIN; " + (f"SELECT {', '.join(calls)}; " if calls else "")

    def _in_one_message(cursor, bound: Callable[[], str], context) -> bool:
        """Send the statement with its opening and, when it ends its transaction, its COMMIT; False: leave it to
        the driver (nothing to add, or a server-side cursor, whose DECLARE needs the transaction first)."""
        opening = _opening(cursor, context)
        ending = "; COMMIT" if context.execution_options.get(ENDS_TRANSACTION) else ""
        if opening is None or not (opening or ending):
            return False
        if type(cursor) is not psycopg.Cursor:
            if opening:
                cursor.connection.execute(opening, prepare=False)
            return False
        cursor.execute(opening + bound() + ending, prepare=False)
        for _ in range(opening.count(";")):
            cursor.nextset()  # to the statement's own result, past BEGIN's and the settings'
        return True

    @event.listens_for(engine, "do_execute")
    def _execute(cursor, statement: str, parameters, context) -> bool:
        return _in_one_message(
            cursor, lambda: psycopg.ClientCursor(cursor.connection).mogrify(statement, parameters), context)

    @event.listens_for(engine, "do_execute_no_params")
    def _execute_no_params(cursor, statement: str, context) -> bool:
        return _in_one_message(cursor, lambda: statement, context)

    @event.listens_for(engine, "do_executemany")
    def _executemany(cursor, _statement: str, _parameters, context) -> None:
        opening = _opening(cursor, context)
        if opening:
            cursor.connection.execute(opening, prepare=False)


def _settings_calls() -> list[str]:
    """The set_config calls a transaction begun now gets (literals: the values are ours, never a caller's)."""
    calls = []
    if _wait_deadline.get() is not None:
        ms = max(1, int(_budget_left(60.0) * 1000))
        calls += [f"set_config('lock_timeout', '{ms}', true)", f"set_config('statement_timeout', '{ms}', true)"]
    if _asynchronous_commit.get():
        calls.append("set_config('synchronous_commit', 'off', true)")
    return calls


SQLITE_LOCK_TIMEOUT_SECONDS = 30.0
BUSY_RETRY_MAX_PAUSE = 0.002
# Page cache per connection. SQLite's default (2 MB) times a gevent pool of 40 connections was 80 MB of the web
# process's memory; pages a small cache misses come from the operating system's file cache, shared by all.
SQLITE_CACHE_KIB = 512
_WRITE_VERBS = ("INSERT", "UPDATE", "DELETE", "REPLACE", "CREATE", "DROP", "ALTER")
_HOLDS_WRITE_LOCK = "callcenter.sqlite_write_lock"


def _is_write(statement: str) -> bool:
    return statement.lstrip()[:8].upper().startswith(_WRITE_VERBS)


def _serialise_sqlite_writers(engine: Engine) -> None:
    """One write transaction at a time per process, queued on a lock instead of SQLite's busy handler.

    SQLite has one writer at a time; a second one waits in its busy handler, which sleeps in C. Under gevent that
    sleep stops every greenlet of the process, including the one holding the write transaction (waiting on Redis
    or the carrier), so both wait until the busy timeout: webhooks took 15 s and callers were lost. Taking a
    process-wide lock (gevent's, once the process is patched) before a transaction's first write makes writers of
    one process wait cooperatively; the busy handler is left for the rare overlap with another process.
    """
    lock = threading.Lock()  # created after gevent patched the web process: a cooperative lock there

    @event.listens_for(engine, "before_cursor_execute")
    def _before_write(conn, _cursor, statement: str, *_args) -> None:
        if conn.info.get(_HOLDS_WRITE_LOCK) or not _is_write(statement):
            return
        if not lock.acquire(timeout=_budget_left(SQLITE_LOCK_TIMEOUT_SECONDS)):
            raise sqlite3.OperationalError("database is locked (waited for this process's other writer)")
        conn.info[_HOLDS_WRITE_LOCK] = True

    def _release(info: dict) -> None:
        if info.pop(_HOLDS_WRITE_LOCK, False):
            lock.release()

    # The transaction ends by commit or rollback; a connection returned to the pool mid-transaction is reset.
    event.listen(engine, "commit", lambda conn: _release(conn.info))
    event.listen(engine, "rollback", lambda conn: _release(conn.info))
    event.listen(engine.pool, "reset", lambda _dbapi, record, _state: _release(record.info))
    event.listen(engine.pool, "invalidate", lambda _dbapi, record, _exc: _release(record.info))


def _retry_while_locked(operation) -> None:
    """Run `operation`, again after a growing pause while SQLite says the database is locked (30 s at most, or
    what is left of the request's budget).

    The pause stays short (BUSY_RETRY_MAX_PAUSE): the other process's write transaction lasts a millisecond or
    two, and every writer of this process queues behind the one waiting here, so a 50 ms nap after the lock came
    free was 50 ms added to each of them (webhooks of a busy floor took seconds)."""
    deadline = time.monotonic() + _budget_left(SQLITE_LOCK_TIMEOUT_SECONDS)
    pause = 0.0005
    while True:
        try:
            operation()
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() + pause > deadline:
                raise
        time.sleep(pause)
        pause = min(pause * 2, BUSY_RETRY_MAX_PAUSE)


def _wait_cooperatively_when_busy(engine: Engine) -> None:
    """Retry a statement SQLite refused as busy (another process is writing), sleeping between tries.

    The web server's greenlets must keep running while the worker commits: a wait in SQLite's busy handler stopped
    the whole process, and when the other writer was itself waiting for this process (the carrier calling back a
    webhook), both stalled until the carrier's 15 s timeout. `time.sleep` is gevent's in a patched process.
    """

    def run(operation) -> bool:
        _retry_while_locked(operation)
        return True

    event.listen(engine, "do_execute", lambda cursor, statement, parameters, _context:
                 run(lambda: cursor.execute(statement, parameters)), retval=True)
    event.listen(engine, "do_execute_no_params", lambda cursor, statement, _context:
                 run(lambda: cursor.execute(statement)), retval=True)
    event.listen(engine, "do_executemany", lambda cursor, statement, parameters, _context:
                 run(lambda: cursor.executemany(statement, parameters)), retval=True)


# How often a web process's thread copies the SQLite WAL into the database file (see checkpoint_off_the_hub).
CHECKPOINT_EVERY_SECONDS = 1.0


def checkpoint_off_the_hub(engine: Engine, every_seconds: float | None = None) -> Greenlet | None:
    """SQLite under gevent: the process's commits no longer checkpoint; a native thread does, every `every_seconds`
    (CHECKPOINT_EVERY_SECONDS).

    In WAL mode with synchronous=NORMAL the only disk flushes are the checkpoints, and SQLite runs one inside
    whichever commit finds 1,000 pages in the WAL. In a web process that commit runs on the hub: a disk that
    stalled a flush for 2.2 s stopped every webhook and socket of the process that long (the bench caught it: the
    agent's answer webhook in `fdatasync`, pops 1.6 s late). A PASSIVE checkpoint in a native thread flushes while
    the hub serves on; it waits for no writer and no reader. The worker, not under gevent, keeps checkpointing
    in its commits too. Returns the greenlet that schedules the checkpoints (None for other databases)."""
    import gevent
    from gevent.threadpool import ThreadPool

    database = engine.url.database
    if engine.dialect.name != "sqlite" or not database or database == ":memory:":
        return None

    @event.listens_for(engine, "connect")
    def _no_checkpoint_in_commits(dbapi_connection, _record) -> None:
        dbapi_connection.execute("PRAGMA wal_autocheckpoint=0")

    engine.dispose()  # connections opened before now would still checkpoint in their commits
    # A thread of its own. In gevent's shared pool, which hashes the logins' passwords, web workers peaked at
    # 194-196 MB in two bench runs against 173-175 MB with this thread: most likely a second pool thread started
    # beside a hash, whose malloc arena kept a hash's memory.
    thread = ThreadPool(1)
    pause = CHECKPOINT_EVERY_SECONDS if every_seconds is None else every_seconds
    kept: list[sqlite3.Connection] = []

    def checkpoint() -> None:
        if not kept:  # mode=rw: a database file removed meanwhile is not created again, empty
            kept.append(sqlite3.connect(f"file:{quote(database)}?mode=rw", uri=True, timeout=0,
                                        check_same_thread=False))
        try:
            kept[0].execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
        except sqlite3.Error:
            kept.pop().close()
            raise

    def every_while() -> None:
        while True:
            gevent.sleep(pause)
            try:
                thread.apply(checkpoint)
            except sqlite3.Error as exc:  # the file is gone or unreadable: say so, try again
                log.warning("SQLite checkpoint failed: %s", exc)

    return gevent.spawn(every_while)


class Database:
    """Holds the engine and a scoped session; bound to an app with `init_app`."""

    def __init__(self) -> None:
        self.engine: Engine | None = None
        self.session_factory: sessionmaker[Session] | None = None
        self.session: scoped_session[Session] = scoped_session(self._make_session, scopefunc=current_greenlet_id)

    def _make_session(self) -> Session:
        if self.session_factory is None:
            raise RuntimeError("Database used before init_app()")
        return self.session_factory()

    def init_app(self, app: Flask) -> None:
        """Create the engine from DATABASE_URL and close the session after every request."""
        self.engine = make_engine(app.config["DATABASE_URL"], pool_size=app.config.get("DATABASE_POOL_SIZE", 10),
                                  application_name=app.config.get("DATABASE_APPLICATION_NAME", "callcenter"))
        self.session_factory = sessionmaker(bind=self.engine, expire_on_commit=False)
        app.extensions["callcenter.db"] = self

        @app.teardown_appcontext
        def _remove_session(_exc: BaseException | None) -> None:
            self.session.remove()

    @contextmanager
    def new_session(self) -> Iterator[Session]:
        """A session outside the request scope (jobs, threads); commits nothing by itself."""
        if self.session_factory is None:
            raise RuntimeError("Database used before init_app()")
        session = self.session_factory()
        try:
            yield session
        finally:
            session.close()
