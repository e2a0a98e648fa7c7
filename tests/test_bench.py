"""`callcenter bench inbound`: the product in its own web and worker processes, the carrier emulator and asyncio
Socket.IO agent consoles in the test's process, over loopback HTTP and websockets; every latency with its
yardstick (the bare route, the bare Socket.IO round trip) from the same run."""

from __future__ import annotations

import math
import os
import subprocess
import sys
import time

import pytest

from callcenter.bench import _descendants, _descendants_by_scan, _run_delay_seconds, run_inbound


def _finite_positive(value) -> bool:
    return isinstance(value, float) and math.isfinite(value) and value > 0


@pytest.mark.timeout(120)
def test_prints_each_latency_with_its_ratio_to_a_bare_yardstick_from_the_same_run(monkeypatch):
    # A fresh SQLite and an embedded Redis of the bench's own, whatever the environment says.
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.delenv("REDIS_URL", raising=False)
    printed: list[str] = []

    figures = run_inbound(calls=4, agents=2, talk_seconds=1.0, arrival_seconds=1.0, speed=4.0, unloaded_rounds=20,
                          echo=printed.append)

    report = printed[0]
    assert figures["errors"] == 0, report
    assert figures["carrier_errors"] == {"total": 0, "timeouts": 0, "application_11200": 0, "other": 0}, report
    assert figures["calls_completed"] == 4
    assert figures["ivr_webhook_ms"]["count"] == 8  # /ivr/voice and /ivr/menu for each caller

    bare, echo = figures["bare_route_ms"], figures["socket_echo_ms"]
    assert bare["count"] >= 3 and echo["count"] >= 3  # sent a few times a second while the calls ran
    for figures_ms in (bare, echo, figures["ivr_webhook_ms"], figures["screen_pop_ms"]):
        assert _finite_positive(figures_ms["p50"]) and _finite_positive(figures_ms["p99"]), figures_ms
    # Every webhook path the calls used, each with its ratio to the bare route's latency in this run.
    webhooks = figures["webhooks_ms"]
    assert {"/ivr/voice", "/ivr/menu", "/ivr/status", "/ivr/agent/answer"} <= set(webhooks)
    assert sum(w["count"] for w in webhooks.values()) == figures["all_webhooks_ms"]["count"]
    for path, w in webhooks.items():
        assert w["ratio"] == round(w["p50"] / bare["p50"], 2), path
        assert w["ratio_p99"] == round(w["p99"] / bare["p99"], 2), path
    pop = figures["screen_pop_ms"]
    assert pop["count"] >= 4 and pop["ratio"] == round(pop["p50"] / echo["p50"], 2)

    # The web process's own time for the same loaded-phase requests, from its access log: never more than what
    # the harness measured around them.
    server_side = figures["server_side_ms"]
    assert server_side["/ivr/menu"]["count"] == 4 and server_side["/ivr/voice"]["count"] == 4
    assert server_side["/ivr/menu"]["p50"] <= webhooks["/ivr/menu"]["p99"]

    unloaded = figures["unloaded"]
    assert unloaded["bare_route"]["count"] == 20 and _finite_positive(unloaded["bare_route"]["p50"])
    for path in ("/ivr/voice", "/ivr/menu", "/ivr/status"):
        assert unloaded[path]["count"] == 20, path
        assert unloaded[path]["ratio"] == round(unloaded[path]["p50"] / unloaded["bare_route"]["p50"], 2)
    # The bare route once more per round, after the pause the menu answer comes after, and the menu over it.
    paused = unloaded["bare_route_after_pause"]
    assert paused["count"] == 20 and _finite_positive(paused["p50"])
    assert unloaded["menu_over_paused_bare_route"] == round(unloaded["/ivr/menu"]["p50"] / paused["p50"], 2)
    assert "bare route, paused" in report and "over the paused bare route's" in report

    # Each product process (found by PID, children included), from /proc.
    processes = figures["processes"]
    for name in ("web", "worker"):
        assert 20 < processes[name]["peak_rss_mb"] < 4000 and processes[name]["peak_threads"] >= 1, processes
        assert processes[name]["cpu_percent"] >= 0
        assert math.isfinite(processes[name]["cpu_wait_percent"]) and processes[name]["cpu_wait_percent"] >= 0
    assert figures["harness_cpu_percent"] > 0 and _finite_positive(figures["harness_cpu_machine_percent"])

    # How fast the machine ran Python before and after the calls: runs made at different speeds do not compare.
    assert _finite_positive(figures["reference_loop_ms"]["before"])
    assert _finite_positive(figures["reference_loop_ms"]["after"])

    for line in ("bare route GET /ping", "/ivr/menu", "socket echo", "screen-pop", "carrier errors",
                 "bench errors", "calls completed", "harness CPU", "web/child", "server side", "machine speed"):
        assert line in report, line


def test_an_error_prints_as_one_clipped_line():
    from callcenter.bench import ERROR_LINE_CHARS, _clip

    transcript = "caller +14155550000: CallTimeout(...); transcript:\n" + "Thank you for calling. " * 200
    line = _clip(transcript)
    assert "\n" not in line and len(line) == ERROR_LINE_CHARS and line.endswith("…")
    assert line.startswith("caller +14155550000: CallTimeout(...); transcript: Thank you")
    assert _clip("agent 19: TimeoutError") == "agent 19: TimeoutError"


def test_the_time_a_process_waited_for_a_cpu_comes_from_the_scheduler():
    """More busy processes than cores: each is runnable while another holds its core, and the scheduler's run
    delay says how long, which the bench prints beside each product process's CPU use."""
    busy = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range((os.cpu_count() or 1) + 1)]
    try:
        time.sleep(1.5)
        waits = [_run_delay_seconds(process.pid) for process in busy]
    finally:
        for process in busy:
            process.kill()
            process.wait()
    assert sum(waits) > 0.3, waits  # about 1.5 s in all: one core's worth of demand had none
    assert _run_delay_seconds(busy[0].pid) == 0.0  # gone


def test_a_process_trees_members_are_its_children_and_theirs():
    """The bench finds gunicorn's workers and RQ's work horses below their parents: children of any thread, and
    grandchildren; the kernel's children lists and a scan of /proc agree."""
    tree = subprocess.Popen(["bash", "-c", "sleep 30 & (sleep 30 & wait) & wait"])
    try:
        deadline = time.monotonic() + 10
        while len(_descendants_by_scan(tree.pid)) < 3 and time.monotonic() < deadline:
            time.sleep(0.05)
        found = sorted(_descendants(tree.pid))
        assert len(found) == 3  # two sleeps and the subshell between one of them and bash
        assert found == sorted(_descendants_by_scan(tree.pid))
    finally:
        for pid in _descendants_by_scan(tree.pid):
            os.kill(pid, 9)
        tree.kill()
        tree.wait()
    assert _descendants(tree.pid) == []  # gone
