"""Fault scenarios: each test injects one fault (Redis stopped, the database locked, the web process restarted)
while calls run through the carrier emulator, and states what callers and agents live through. They run on the
inbound scenarios' set-up (emulator in process, fast clock, real agent sockets)."""

from __future__ import annotations

from tests.inbound.conftest import NUMBER, app_config, console, line, redis_client, sim_carrier

__all__ = ["NUMBER", "app_config", "console", "line", "redis_client", "sim_carrier"]
