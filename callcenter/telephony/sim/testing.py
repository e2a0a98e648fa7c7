"""Test support for code that runs on the emulated carrier (imported by tests only; needs pytest).

Use the `sim_carrier` fixture (import it into a conftest.py) or `strict_carrier()`: both shut the carrier down
at the end and FAIL the test when the carrier recorded an error (TwiML Twilio would reject, a webhook that
answered 500, ...). A test that provokes errors on purpose asserts on them and clears `carrier.errors`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from flask import Flask

from callcenter.telephony.sim import get_carrier
from callcenter.telephony.sim.engine import Carrier


def assert_no_carrier_errors(carrier: Carrier) -> None:
    """Raise AssertionError listing every error the carrier recorded."""
    if carrier.errors:
        lines = "\n".join(f"  [{e.code}] call {e.call_sid} {e.url or ''}: {e.message}" for e in carrier.errors)
        raise AssertionError(f"the carrier emulator recorded {len(carrier.errors)} error(s):\n{lines}")


@contextmanager
def strict_carrier(carrier: Carrier) -> Iterator[Carrier]:
    """Yield the carrier; on exit end its calls, join its threads and fail on recorded errors."""
    try:
        yield carrier
    finally:
        carrier.shutdown()
    assert_no_carrier_errors(carrier)


@pytest.fixture
def sim_carrier(app: Flask) -> Iterator[Carrier]:
    """The app's carrier; the test fails at teardown if the carrier recorded errors."""
    with strict_carrier(get_carrier(app)) as carrier:
        yield carrier
