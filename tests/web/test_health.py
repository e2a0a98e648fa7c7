"""/healthz reports each dependency with its state, and 503 while any is down."""

from __future__ import annotations

import pytest


@pytest.fixture
def admin_client(app, factory):
    """/healthz details are for admins; everyone else gets ok/degraded per component."""
    factory.user(username="root", role="admin")
    client = app.test_client()
    assert client.post("/login", data={"username": "root", "password": "password123"}).status_code == 302
    return client


def test_the_public_answer_names_no_error_host_or_driver(app, client, factory, caplog):
    from callcenter.redis_conn import connect

    factory.user(username="alice")  # an agent is "the public" too
    agent = app.test_client()
    agent.post("/login", data={"username": "alice", "password": "password123"})
    app.extensions["callcenter.redis"] = connect("unix:///nonexistent/secret-host.sock")
    for anyone in (client, agent):
        response = anyone.get("/healthz")
        assert response.status_code == 503
        assert response.json == {"status": "degraded", "checks": {
            "database": {"ok": True}, "redis": {"ok": False}, "worker": {"ok": False}}}
    assert "secret-host" in caplog.text  # logged for operators instead


def test_degraded_without_a_worker(admin_client):
    client = admin_client
    response = client.get("/healthz")
    assert response.status_code == 503
    checks = response.json["checks"]
    assert checks["database"]["ok"] and checks["redis"]["ok"]
    assert checks["worker"] == {"ok": False, "alive": 0, "workers": [],
                                "error": "no RQ worker has sent a heartbeat recently"}


def test_ok_while_a_worker_heartbeat_is_fresh_and_degraded_when_it_goes_stale(app, admin_client):
    from datetime import UTC, datetime, timedelta

    from rq import Worker
    from rq.utils import utcformat

    from callcenter.redis_conn import get_redis

    worker = Worker(["default"], connection=get_redis(), worker_ttl=app.config["WORKER_TTL_SECONDS"])
    worker.register_birth()  # what a starting worker does; it sets RQ's last_heartbeat

    response = admin_client.get("/healthz")
    assert response.status_code == 200, response.json
    assert response.json["checks"]["worker"]["workers"] == [worker.name]

    stale = datetime.now(UTC) - timedelta(seconds=app.config["WORKER_TTL_SECONDS"] + 60)
    get_redis().hset(worker.key, "last_heartbeat", utcformat(stale))
    assert admin_client.get("/healthz").status_code == 503


def test_redis_down_is_reported_not_raised(app, admin_client):
    from callcenter.redis_conn import connect

    app.extensions["callcenter.redis"] = connect("unix:///nonexistent/redis.sock")
    response = admin_client.get("/healthz")
    assert response.status_code == 503
    assert response.json["checks"]["redis"]["ok"] is False
    assert response.json["checks"]["database"]["ok"] is True


def test_ping_answers_without_login_database_redis_or_session(app, client):
    from sqlalchemy import event

    from callcenter.extensions import db
    from callcenter.redis_conn import connect

    statements: list[str] = []

    def count(_conn, _cursor, statement, *_args) -> None:
        statements.append(statement)

    app.extensions["callcenter.redis"] = connect("unix:///nonexistent/redis.sock")  # Redis down changes nothing
    event.listen(db.engine, "before_cursor_execute", count)
    try:
        response = client.get("/ping")
    finally:
        event.remove(db.engine, "before_cursor_execute", count)

    assert response.status_code == 204 and response.data == b""
    assert statements == []
    assert "Set-Cookie" not in response.headers
