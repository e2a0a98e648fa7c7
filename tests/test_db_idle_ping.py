"""PostgreSQL connections are checked before use only after they sat idle: a restarted server or a dropped idle
connection costs the caller nothing, and a busy pool pays no round trip per transaction."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from callcenter import db
from callcenter.db import make_engine


@pytest.fixture
def engine(postgres_server):
    engine = make_engine(postgres_server.url(), pool_size=1)
    yield engine
    engine.dispose()


@pytest.fixture
def pings(engine, monkeypatch) -> list[object]:
    seen: list[object] = []
    original = engine.dialect.do_ping

    def counting(dbapi_connection):
        seen.append(dbapi_connection)
        return original(dbapi_connection)

    monkeypatch.setattr(engine.dialect, "do_ping", counting)
    return seen


def _backend_pid(engine) -> int:
    with engine.connect() as connection:
        return connection.exec_driver_sql("SELECT pg_backend_pid()").scalar_one()


def test_a_connection_used_a_moment_ago_is_not_pinged_again(engine, pings):
    first = _backend_pid(engine)
    assert _backend_pid(engine) == first  # the same pooled connection
    assert pings == []


def test_an_idle_connection_the_server_dropped_is_replaced_before_anyone_uses_it(engine, pings, postgres_server,
                                                                                 monkeypatch):
    dropped = _backend_pid(engine)
    admin = sa.create_engine(postgres_server.url(), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        assert connection.exec_driver_sql(f"SELECT pg_terminate_backend({dropped})").scalar_one()
    admin.dispose()
    monkeypatch.setattr(db, "PING_AFTER_IDLE_SECONDS", 0.0)  # as if it had sat idle long enough

    replacement = _backend_pid(engine)  # no error: the ping found it gone and the pool opened another

    assert replacement != dropped
    assert pings[0].closed  # the dropped connection: its ping failed, so nobody's statement did
    assert not pings[-1].closed


def test_the_pool_hands_out_the_connection_used_last(postgres_server):
    """Last in, first out: a webhook's statement goes to the backend that has just run, not to the one idle
    longest (each pooled connection in turn left every backend cold between two uses)."""
    engine = make_engine(postgres_server.url(), pool_size=3)
    try:
        held = [engine.connect() for _ in range(3)]
        pids = [connection.exec_driver_sql("SELECT pg_backend_pid()").scalar_one() for connection in held]
        for connection in held:
            connection.close()  # back to the pool in order: the last one returned is pids[-1]
        assert [_backend_pid(engine) for _ in range(3)] == [pids[-1]] * 3
    finally:
        engine.dispose()
