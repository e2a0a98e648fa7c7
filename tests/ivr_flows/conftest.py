"""Fixtures for IVR flows: the three demo queues and the shipped default flow."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from callcenter.models import Queue
from callcenter.services import ivr_flows

ALL_WEEK = {day: [["00:00", "24:00"]] for day in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}


@pytest.fixture
def queues(session) -> dict[str, Queue]:
    """Sales, Support and Billing, as the demo seed creates them (open around the clock)."""
    made = {name: Queue(name=name, business_hours=ALL_WEEK) for name in ("Sales", "Support", "Billing")}
    session.add_all(made.values())
    session.commit()
    return made


@pytest.fixture
def default_flow() -> dict[str, Any]:
    """A fresh copy of the shipped demo flow, parsed from its YAML file."""
    text = ivr_flows.DEFAULT_FLOW_FILE.read_text(encoding="utf-8")
    return copy.deepcopy(ivr_flows.parse_definition(text, "flow.yaml"))


@pytest.fixture
def app_config(app_config: dict) -> dict:
    """These tests place no calls: bind the Twilio provider (no network at start-up) instead of the emulator."""
    return {**app_config, "TELEPHONY_PROVIDER": "twilio", "TWILIO_ACCOUNT_SID": "AC" + "1" * 32,
            "TWILIO_AUTH_TOKEN": "test-token"}
