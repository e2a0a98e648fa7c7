"""Fixtures for the ACD tests: a Redis client on the real test server, and an event recorder."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis

from callcenter.services.events import DomainEvent, bus


@pytest.fixture
def acd_redis(redis_server) -> Iterator[redis.Redis]:
    """A client of the session's real Redis, emptied for this test."""
    client = redis.Redis.from_url(redis_server.url)
    client.flushall()
    yield client
    client.close()


class EventRecorder:
    def __init__(self) -> None:
        self.events: list[DomainEvent] = []

    def __call__(self, event: DomainEvent) -> None:
        self.events.append(event)

    def named(self, name: str) -> list[dict]:
        return [e.payload for e in self.events if e.name == name]

    def clear(self) -> None:
        self.events.clear()


@pytest.fixture
def events() -> Iterator[EventRecorder]:
    """Every domain event published during the test."""
    recorder = EventRecorder()
    bus.subscribe(recorder)
    yield recorder
    bus.unsubscribe(recorder)
