"""`callcenter bench inbound` in its default shape: the product in its own web and worker processes, the carrier
emulator and real Socket.IO agent clients in the test's process, over loopback HTTP and websockets."""

from __future__ import annotations

import math

import pytest

from callcenter.bench import run_inbound


@pytest.mark.timeout(120)
def test_default_mode_runs_the_product_in_its_own_processes(monkeypatch, tmp_path):
    # A fresh SQLite and an embedded Redis of the bench's own, whatever the environment says.
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.delenv("REDIS_URL", raising=False)
    printed: list[str] = []

    figures = run_inbound(calls=4, agents=2, talk_seconds=1.0, arrival_seconds=1.0, speed=4.0, echo=printed.append)

    assert figures["errors"] == 0, printed
    assert figures["calls_completed"] == 4
    assert figures["mode"].startswith("product in its own processes")
    assert figures["ivr_webhook_ms"]["count"] == 8  # /ivr/voice and /ivr/menu for each caller
    for key in ("ivr_webhook_ms", "screen_pop_ms"):
        for q in ("p50", "p99"):
            value = figures[key][q]
            assert isinstance(value, float) and math.isfinite(value) and value > 0, (key, q, value)
    assert figures["screen_pop_ms"]["count"] >= 4
    assert "IVR webhook latency" in printed[0]
