"""`callcenter bench routing` at a tiny size: it builds the floor in its own embedded Redis, times real decisions
and prints one `name value` line per figure."""

from __future__ import annotations

import math

from click.testing import CliRunner

from callcenter.bench_routing import run_routing
from callcenter.cli import main

NAMES = ["p50_ms", "p99_ms", "decisions", "agents_examined_p99", "server_p50_ms", "server_p99_ms"]


def parse(lines: list[str]) -> dict[str, float]:
    figures = {}
    for line in lines:
        name, value = line.split()
        figures[name] = float(value)
    return figures


def test_prints_sane_figures_for_real_decisions():
    printed: list[str] = []

    figures = run_routing(agents=30, queues=4, calls=40, decisions=60, seed=3, echo=printed.append)

    assert [line.split()[0] for line in printed] == NAMES
    values = parse(printed)
    assert values["decisions"] == 60 == figures["decisions"]
    for name in ("p50_ms", "p99_ms", "server_p50_ms", "server_p99_ms"):
        assert math.isfinite(values[name]) and 0 < values[name] < 1000, (name, values[name])
    assert values["p50_ms"] <= values["p99_ms"]
    assert values["server_p50_ms"] <= values["server_p99_ms"] <= values["p99_ms"]
    assert 1 <= values["agents_examined_p99"] <= 30


def test_the_command_with_a_blocked_call():
    result = CliRunner().invoke(main, ["bench", "routing", "--agents", "20", "--queues", "3", "--calls", "20",
                                       "--decisions", "30", "--blocked-call"])

    assert result.exit_code == 0, result.output
    values = parse(result.output.splitlines())
    assert values["decisions"] == 30
    assert 1 <= values["agents_examined_p99"] <= 20
