"""Each process's PostgreSQL connections say which process they belong to (pg_stat_activity, the server's log)."""

from __future__ import annotations

import sqlalchemy as sa
from click.testing import CliRunner

from callcenter.db import make_engine
from callcenter.extensions import db


def _application_name(engine: sa.Engine) -> str:
    with engine.connect() as connection:
        return connection.exec_driver_sql("SELECT current_setting('application_name')").scalar_one()


def test_an_engine_names_its_connections_after_the_process_kind(postgres_server):
    named, default = make_engine(postgres_server.url(), application_name="callcenter worker"), \
        make_engine(postgres_server.url())
    try:
        assert _application_name(named) == "callcenter worker"
        assert _application_name(default) == "callcenter"
    finally:
        named.dispose()
        default.dispose()


def test_the_worker_command_connects_as_the_worker(postgres_server, redis_server, tmp_path, monkeypatch):
    """`callcenter worker` builds its app with the name; the worker itself is not started here."""
    from callcenter.cli import main

    for key, value in {"CALLCENTER_INSTANCE": str(tmp_path / "instance"), "DATABASE_URL": postgres_server.url(),
                       "REDIS_URL": redis_server.url, "SECRET_KEY": "test-secret",
                       "TELEPHONY_PROVIDER": "sim",
                       # The Socket.IO extension is one object for the whole test session: a message queue set up
                       # here would stay in its options, and Flask-SocketIO's test client refuses to work with one.
                       "SOCKETIO_MESSAGE_QUEUE": "false"}.items():
        monkeypatch.setenv(key, value)
    started = []
    monkeypatch.setattr("workers.worker.run_worker", lambda app, burst=False: started.append(app))

    result = CliRunner().invoke(main, ["worker", "--burst"])

    assert result.exit_code == 0, result.output
    (app,) = started
    with app.app_context():
        assert db.session.execute(sa.text("SELECT current_setting('application_name')")).scalar_one() \
            == "callcenter worker"
        db.session.remove()
    db.engine.dispose()
