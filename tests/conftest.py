"""Shared fixtures: real PostgreSQL and Redis servers, one migrated database per test, the app, factories.

Every test that uses `app` (or `database_url`) runs twice: on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import itertools
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask import Flask, g
from flask.testing import FlaskClient
from flask_socketio import SocketIO
from hypothesis import settings

from callcenter import create_app, migrate
from callcenter.db import make_engine
from callcenter.extensions import db
from tests.support.servers import PostgresServer, RedisServer

_database_counter = itertools.count()

# Property-based tests (tests/ivr/test_webhook_fuzz.py, tests/api/test_schema_fuzz.py) are reproducible in CI: the
# same examples on every run (derandomize), no example database on disk, no per-example deadline (a shared 2-core
# machine is slow now and then). HYPOTHESIS_PROFILE=explore searches further with fresh randomness when hunting bugs.
settings.register_profile("ci", derandomize=True, database=None, deadline=None, max_examples=40, print_blob=True)
settings.register_profile("explore", deadline=None, max_examples=500, database=None, print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


@pytest.fixture(scope="session", autouse=True)
def cheap_password_hashing():
    """Argon2id with the smallest cost: the suite hashes hundreds of passwords and is not testing their cost.
    The product's cost is exercised by tests/test_run_command.py, which runs the real command."""
    from argon2 import PasswordHasher

    from callcenter.services import auth

    original = auth._hasher
    auth._hasher = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    yield
    auth._hasher = original


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    server = PostgresServer().start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    server = RedisServer()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory) -> Path:
    """A SQLite file migrated once; each test gets a copy."""
    path = tmp_path_factory.mktemp("sqlite-template") / "template.sqlite"
    engine = make_engine(f"sqlite:///{path}")
    migrate.upgrade(engine)
    with engine.connect() as connection:
        connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    engine.dispose()
    return path


@pytest.fixture(scope="session")
def postgres_template(postgres_server: PostgresServer) -> str:
    """A PostgreSQL database migrated once; each test gets `CREATE DATABASE ... TEMPLATE` of it."""
    admin = sa.create_engine(postgres_server.url(), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.exec_driver_sql("CREATE DATABASE cc_template")
    admin.dispose()
    engine = make_engine(postgres_server.url("cc_template"))
    migrate.upgrade(engine)
    engine.dispose()
    return "cc_template"


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request, tmp_path) -> str:
    """A fresh, migrated database for this test, on each backend."""
    if request.param == "sqlite":
        target = tmp_path / "callcenter.sqlite"
        shutil.copy(request.getfixturevalue("sqlite_template"), target)
        return f"sqlite:///{target}"
    server: PostgresServer = request.getfixturevalue("postgres_server")
    template = request.getfixturevalue("postgres_template")
    name = f"cc_test_{next(_database_counter)}"
    admin = sa.create_engine(server.url(), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.exec_driver_sql(f"CREATE DATABASE {name} TEMPLATE {template}")
    admin.dispose()
    return server.url(name)


@pytest.fixture
def app_config(database_url: str, redis_server: RedisServer, tmp_path: Path) -> dict:
    """Settings for a test app; tests may change them before the `app` fixture is built."""
    redis_server.client.flushall()
    return {
        "TESTING": True,
        "INSTANCE_PATH": str(tmp_path / "instance"),
        "SECRET_KEY": "test-secret",
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_server.url,
        "SOCKETIO_MESSAGE_QUEUE": False,
        "WTF_CSRF_ENABLED": False,
        "PUBLIC_BASE_URL": "http://localhost",
        "SERVER_NAME": "localhost",
        # On purpose: with PostgreSQL, 'auto' would (rightly) refuse to fall back to the emulator.
        "TELEPHONY_PROVIDER": "sim",
        # Deferred jobs run right after the commit that defers them; tests of real asynchronous execution
        # (tests/workers) turn this off and run a worker.
        "JOBS_INLINE": True,
        # The ticker would write a backup on each test's first pass; tests/test_backups.py turns it on.
        "BACKUP_DAILY": False,
        # The dialing gate's calling hours would make every dialing test depend on the wall clock; tests of the
        # window pass a fixed `now` (tests/services/test_dialing_gate.py).
        "DIAL_CALLING_HOURS": "00:00-24:00",
    }


@pytest.fixture
def app(app_config: dict, monkeypatch) -> Iterator[Flask]:
    app = create_app(app_config)
    app.test_client_class = PerRequestClient
    # Socket events, like test requests, reuse the test's app context: give each one an empty `g` too, as in
    # production, or flask-login would answer every socket with the first user it loaded.
    original = SocketIO._handle_event

    def handle_event_with_fresh_g(self, *args, **kwargs):
        vars(g).clear()
        return original(self, *args, **kwargs)

    monkeypatch.setattr(SocketIO, "_handle_event", handle_event_with_fresh_g)
    with app.app_context():
        yield app
        db.session.remove()
    db.engine.dispose()


@pytest.fixture
def session(app: Flask):
    """The app's scoped session, inside the app context."""
    return db.session


class PerRequestClient(FlaskClient):
    """Each request starts with an empty `g`, as in production.

    The `app` fixture keeps an app context pushed for the whole test and Flask reuses it for test requests, so
    flask-login's cached user (g._login_user) and flask-wtf's g.csrf_token would leak from one request to the next.
    """

    def open(self, *args, **kwargs):
        vars(g).clear()
        return super().open(*args, **kwargs)


@pytest.fixture
def client(app: Flask):
    return app.test_client()


@pytest.fixture
def runner(app: Flask):
    return app.test_cli_runner()


@pytest.fixture
def factory(session):
    """Small data factories (see tests/support/factories.py)."""
    from tests.support.factories import Factory

    return Factory(session)


class AuthActions:
    def __init__(self, client) -> None:
        self._client = client

    def login(self, username: str, password: str = "password123"):
        return self._client.post("/login", data={"username": username, "password": password})

    def logout(self):
        return self._client.post("/logout")


@pytest.fixture
def auth(client) -> AuthActions:
    return AuthActions(client)
