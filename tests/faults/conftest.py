"""Fault scenarios: each test injects one fault (Redis stopped, the database locked, the web process restarted)
while calls run through the carrier emulator, and states what callers and agents live through."""

from __future__ import annotations

import pytest

from callcenter.redis_conn import get_redis
from callcenter.telephony.sim.testing import sim_carrier
from tests.realtime.conftest import console

__all__ = ["console", "sim_carrier"]

NUMBER = "+18005550100"


@pytest.fixture
def app_config(app_config):
    app_config.update(TELEPHONY_PROVIDER="sim", SIM_TRANSPORT="wsgi", SIM_SPEED=25, HOLD_SECONDS=4,
                      SIM_PHONE_NUMBERS=[NUMBER])
    return app_config


@pytest.fixture
def redis_client(app):
    return get_redis(app)


@pytest.fixture
def line(factory):
    return factory.demo_line()
