"""Fixtures for socket scenarios: agents with skills, a queue, logged-in console sockets."""

from __future__ import annotations

import pytest

from callcenter.extensions import socketio
from callcenter.models import Queue, QueueSkill
from callcenter.redis_conn import get_redis
from callcenter.services.auth import get_or_create_skill


@pytest.fixture
def redis_client(app):
    return get_redis(app)


@pytest.fixture
def support_queue(session):
    queue = Queue(name="Support", wrap_up_seconds=10, reservation_timeout_seconds=15)
    queue.skills = [QueueSkill(skill=get_or_create_skill(session, "support"), min_level=1)]
    session.add(queue)
    session.commit()
    return queue


@pytest.fixture
def console(app):
    """`console(user)` -> a Socket.IO test client on /agent, signed in as that user (through the session cookie)."""
    clients = []

    def connect(user, namespace: str = "/agent"):
        http = app.test_client()
        response = http.post("/login", data={"username": user.username, "password": "password123"})
        assert response.status_code == 302
        client = socketio.test_client(app, namespace=namespace, flask_test_client=http)
        assert client.is_connected(namespace)
        clients.append((client, namespace))
        return client

    yield connect
    for client, namespace in clients:
        if client.is_connected(namespace):
            client.disconnect(namespace)


def received(client, name: str, namespace: str = "/agent") -> list:
    """The args of every `name` event received since the last call (drains the client's buffer)."""
    return [event["args"][0] for event in client.get_received(namespace) if event["name"] == name]
