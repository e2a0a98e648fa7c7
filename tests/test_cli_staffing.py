"""`callcenter staffing`: one `name value` pair a line, without an app or a database."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from callcenter import cli
from callcenter.cli import main

TEXTBOOK = ["--calls", "100", "--interval-minutes", "30", "--aht-seconds", "180", "--target-service-level", "0.8",
            "--answer-within-seconds", "20"]


@pytest.fixture
def run(monkeypatch):
    """Invoke the command; building the app (and so reaching a database) would fail the test."""
    def no_app():
        raise AssertionError("the staffing command must not build the app")

    monkeypatch.setattr(cli, "_create_app", no_app)

    def invoke(*args: str) -> tuple[int, dict[str, str], str]:
        result = CliRunner().invoke(main, ["staffing", *args])
        pairs = dict(line.split(" ", 1) for line in result.output.splitlines()) if result.exit_code == 0 else {}
        return result.exit_code, pairs, result.output

    return invoke


def test_erlang_c_search_prints_the_textbook_answer(run):
    code, pairs, output = run(*TEXTBOOK)
    assert code == 0, output
    assert list(pairs) == ["raw_agents", "agents", "service_level", "occupancy", "wait_probability", "asa_seconds"]
    assert pairs == {"raw_agents": "14", "agents": "14", "service_level": "0.8884", "occupancy": "0.7143",
                     "wait_probability": "0.1741", "asa_seconds": "7.8"}


def test_given_agents_are_evaluated_with_shrinkage(run):
    code, pairs, output = run(*TEXTBOOK, "--agents", "13", "--shrinkage", "0.3")
    assert code == 0, output
    assert pairs == {"raw_agents": "13", "agents": "19", "service_level": "0.7956", "occupancy": "0.7692",
                     "wait_probability": "0.2853", "asa_seconds": "17.1"}


def test_patience_switches_to_erlang_a_and_adds_abandonment(run):
    code, pairs, output = run(*TEXTBOOK, "--patience-seconds", "300", "--max-occupancy", "0.85",
                              "--shrinkage", "0.3")
    assert code == 0, output
    assert list(pairs)[-1] == "abandon_probability"
    assert pairs["raw_agents"] == "13" and pairs["agents"] == "19"
    assert float(pairs["service_level"]) >= 0.8 and float(pairs["occupancy"]) <= 0.85
    assert 0 < float(pairs["abandon_probability"]) < float(pairs["wait_probability"])
    assert len(pairs["service_level"].split(".")[1]) == 4 and len(pairs["asa_seconds"].split(".")[1]) == 1


def test_patience_with_given_agents(run):
    code, pairs, output = run(*TEXTBOOK, "--patience-seconds", "120", "--agents", "8")
    assert code == 0, output
    assert pairs["raw_agents"] == "8" and float(pairs["abandon_probability"]) > 0


def test_impossible_input_is_a_usage_error(run):
    code, _, output = run(*TEXTBOOK[:-3], "1.2", "--answer-within-seconds", "20")
    assert code == 2
    assert "between 0 and 1" in output
