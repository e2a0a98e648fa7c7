"""Keeps every process's configuration snapshots current: committed changes go out on Redis pub/sub, and each
process drops what another one changed (services.config_cache holds the snapshots).

A subscriber that loses Redis drops every snapshot when it subscribes again, since it may have missed messages.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Hashable

import redis
from flask import Flask

from callcenter.redis_conn import get_redis
from callcenter.services import config_cache

log = logging.getLogger(__name__)

CHANNEL = "cc:config-changed"
RETRY_SECONDS = 1.0
SUBSCRIBE_WAIT_SECONDS = 5.0


def encode(namespace: str, key: Hashable | None) -> str:
    return json.dumps({"namespace": namespace, "key": key, "pid": os.getpid()})


class ChangeSubscriber:
    """A daemon thread (a greenlet under gevent) applying other processes' changes to `cache`."""

    def __init__(self, redis_url: str, cache: config_cache.SnapshotCache) -> None:
        # Its own connection without a read timeout: the subscription is silent for hours.
        self._client = redis.Redis.from_url(redis_url, health_check_interval=30)
        self.cache = cache
        self.subscribed = threading.Event()
        self.last_namespace: str | None = None  # what the latest message named (tests wait on it)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="callcenter-config-sync", daemon=True)

    def start(self) -> ChangeSubscriber:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def apply(self, raw: bytes | str) -> None:
        """Drop what one message names (a malformed message drops everything: stale is worse than a re-read)."""
        try:
            message = json.loads(raw)
            namespace, key = message["namespace"], message.get("key")
        except (ValueError, KeyError, TypeError):
            self.cache.clear()
            return
        self.cache.drop(namespace, tuple(key) if isinstance(key, list) else key)
        self.last_namespace = namespace

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                pubsub = self._client.pubsub(ignore_subscribe_messages=True)
                pubsub.subscribe(CHANNEL)
                self.cache.clear()  # anything may have changed while we were not listening
                self.subscribed.set()
                while not self._stop.is_set():
                    message = pubsub.get_message(timeout=1.0)
                    if message is not None and message.get("type") == "message":
                        self.apply(message["data"])
                pubsub.close()
            except redis.RedisError as exc:
                self.subscribed.clear()
                log.warning("configuration changes: Redis unavailable (%s); retrying", exc)
                self._stop.wait(RETRY_SECONDS)


def init_app(app: Flask) -> None:
    """Start from empty snapshots and announce this process's committed changes to the others."""
    config_cache.cache.clear()
    client = get_redis(app)

    def relay(namespace: str, key: Hashable | None) -> None:
        client.publish(CHANNEL, encode(namespace, key))

    config_cache.relay_changes_with(relay)


def start_subscriber(app: Flask) -> ChangeSubscriber:
    """Hear the other processes' changes: long-lived servers (web, worker) call this; one-shot commands and tests
    do not need to."""
    subscriber = ChangeSubscriber(app.config["REDIS_URL"], config_cache.cache).start()
    app.extensions["callcenter.config_sync"] = subscriber
    # Serve only once changes are heard (a snapshot taken before would be dropped by the subscription anyway);
    # with Redis down, serve regardless: the subscriber keeps trying and clears the snapshots when it gets in.
    subscriber.subscribed.wait(SUBSCRIBE_WAIT_SECONDS)
    return subscriber
