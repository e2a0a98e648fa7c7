"""Validation on load: every problem at once, each with a path and a message an admin can act on."""

from __future__ import annotations

import pytest

from callcenter.services.errors import ValidationFailed
from callcenter.services.ivr_flows import parse_definition, validate_flow


def problems_of(session, definition) -> dict[str, str]:
    return {p.path: p.message for p in validate_flow(session, definition)}


def test_the_default_flow_is_valid(session, queues, default_flow):
    assert validate_flow(session, default_flow) == []


def test_unknown_queue_suggests_the_right_spelling(session, queues, default_flow):
    default_flow["nodes"]["main"]["choices"][0]["queue"] = "sales"
    default_flow["nodes"]["main"]["default"] = {"queue": "Marketing"}

    found = problems_of(session, default_flow)

    assert found["nodes.main.choices[0].queue"] == "unknown queue 'sales'; did you mean 'Sales'?"
    assert found["nodes.main.default.queue"] == "unknown queue 'Marketing' (known queues: Billing, Sales, Support)"


def test_goto_to_a_missing_node_and_a_bad_start(session, queues, default_flow):
    default_flow["nodes"]["main"]["choices"][1]["goto"] = "suport_menu"
    default_flow["start"] = "begin"

    found = problems_of(session, default_flow)

    assert found["nodes.main.choices[1].goto"].startswith("goto node 'suport_menu' does not exist")
    assert found["start"].startswith("start node 'begin' does not exist (nodes: main, support_menu")


def test_unreachable_node(session, queues, default_flow):
    default_flow["nodes"]["orphan"] = {"prompt": "Nobody hears this.", "choices": [{"key": "1", "queue": "Sales"}],
                                       "default": {"action": "hangup"}}

    assert problems_of(session, default_flow) == {
        "nodes.orphan": "unreachable node: no choice or default leads here from 'main'"}


def test_duplicate_key_and_duplicate_speech_word(session, queues, default_flow):
    choices = default_flow["nodes"]["main"]["choices"]
    choices[2]["key"] = "1"
    choices[3]["speech"] = ["message", "SALES"]

    found = problems_of(session, default_flow)

    assert found["nodes.main.choices[2].key"] == "duplicate key '1' (also used by choices[0])"
    assert found["nodes.main.choices[3].speech[1]"] == "duplicate speech word 'SALES' (also used by choices[0])"


def test_missing_prompt_default_start_and_number(session, queues, default_flow):
    del default_flow["nodes"]["support_menu"]["prompt"]
    del default_flow["nodes"]["support_menu"]["default"]
    del default_flow["number"]
    del default_flow["start"]

    found = problems_of(session, default_flow)

    assert found["nodes.support_menu.prompt"] == "prompt is required"
    assert found["nodes.support_menu.default"] == "default is required: where to go after two re-prompts"
    assert found["start"] == "start is required: the id of the first menu"
    assert found["number"].startswith("number is required")


@pytest.mark.parametrize("key", ["10", "A", None, True, "**"])
def test_invalid_keys(session, queues, default_flow, key):
    default_flow["nodes"]["main"]["choices"][0]["key"] = key
    message = problems_of(session, default_flow)["nodes.main.choices[0].key"]
    assert message.startswith(f"invalid key {key!r}: use one of 0-9, * or #")


def test_unknown_fields_everywhere(session, queues, default_flow):
    default_flow["greting"] = "typo"
    default_flow["nodes"]["main"]["promt"] = "typo"
    default_flow["nodes"]["main"]["choices"][0]["quue"] = "Sales"
    default_flow["after_hours"]["mesage"] = "typo"

    assert set(problems_of(session, default_flow)) == {
        "greting", "nodes.main.promt", "nodes.main.choices[0].quue", "after_hours.mesage"}
    assert problems_of(session, default_flow)["greting"].startswith("unknown field 'greting' (allowed: number,")


@pytest.mark.parametrize("number, message", [
    ("12", "'12' is not a possible phone number"),
    ("call us", "'call us' is not a possible phone number"),
    (18005550100, "number must be quoted text"),
])
def test_bad_number(session, queues, default_flow, number, message):
    default_flow["number"] = number
    assert problems_of(session, default_flow)["number"].startswith(message)


def test_bad_after_hours_action_and_route_actions(session, queues, default_flow):
    default_flow["after_hours"] = {"action": "ring_forever"}
    default_flow["nodes"]["main"]["choices"][3]["action"] = "transfer"

    found = problems_of(session, default_flow)

    assert found["after_hours.action"] == "unknown after-hours action 'ring_forever' (use voicemail, callback, hangup)"
    assert found["nodes.main.choices[3].action"] == "unknown action 'transfer' (use voicemail, callback, hangup)"


def test_routes_need_exactly_one_target_and_sane_extras(session, queues, default_flow):
    choices = default_flow["nodes"]["main"]["choices"]
    choices[0]["goto"] = "support_menu"                 # queue and goto
    choices[2]["priority_boost"] = "high"               # not a number
    choices[3]["priority_boost"] = 3                    # boost on an action
    default_flow["nodes"]["support_menu"]["default"] = {"message": "hi"}  # no target

    found = problems_of(session, default_flow)

    assert found["nodes.main.choices[0]"] == "has both queue and goto: use exactly one of queue, goto or action"
    assert found["nodes.main.choices[2].priority_boost"] == "priority_boost must be a whole number from -100 to 100"
    assert found["nodes.main.choices[3].priority_boost"] == "priority_boost only applies to a queue route"
    assert found["nodes.support_menu.default"] == "says where to go with none of queue, goto or action"


def test_a_loop_of_defaults_is_refused(session, queues, default_flow):
    default_flow["nodes"]["main"]["default"] = {"goto": "support_menu"}
    default_flow["nodes"]["support_menu"]["default"] = {"goto": "main"}

    found = problems_of(session, default_flow)

    assert list(found) == ["nodes.main.default"]
    assert found["nodes.main.default"].startswith("defaults loop (main -> support_menu -> main)")


def test_all_problems_are_reported_at_once(session, queues, default_flow):
    default_flow["number"] = "nope"
    default_flow["nodes"]["main"]["choices"][0]["queue"] = "Nowhere"
    default_flow["nodes"]["main"]["choices"][1]["key"] = "1"
    del default_flow["nodes"]["support_menu"]["prompt"]

    assert len(validate_flow(session, default_flow)) == 4


def test_not_a_mapping(session):
    assert problems_of(session, ["a", "list"]) == {"": "a flow must be a mapping with number, start and nodes"}


def test_parse_errors_name_the_line():
    with pytest.raises(ValidationFailed, match=r"Invalid JSON at line 3, column 3"):
        parse_definition('{\n  "number": "+18005550100"\n  "start": "main"\n}', "flow.json")
    unclosed = r"Invalid YAML at line 4, column 1: .*\(while parsing a flow sequence started at line 3\)"
    with pytest.raises(ValidationFailed, match=unclosed):
        parse_definition("number: '+18005550100'\nnodes:\n  main: [unclosed\n", "flow.yml")
    with pytest.raises(ValidationFailed, match=r"quote \* and # keys"):
        parse_definition("nodes:\n  main:\n    choices:\n      - {key: *, queue: Sales}\n", "flow.yaml")
    with pytest.raises(ValidationFailed, match="Unknown flow format"):
        parse_definition("{}", "flow.txt")
    with pytest.raises(ValidationFailed, match="must be a mapping"):
        parse_definition("- just\n- a list\n", "yaml")


def test_yaml_pitfalls_get_clear_messages(session, queues):
    text = """
number: "+18005550100"
start: main
nodes:
  main:
    prompt: Press pound or say yes.
    choices:
      - key: #
        queue: Sales
      - {key: 1, speech: [yes], queue: Support}
    default: {queue: Support}
"""
    found = problems_of(session, parse_definition(text, "yaml"))
    assert found["nodes.main.choices[0].key"].endswith('(in YAML write key: "#" or key: "*" in quotes)')
    assert found["nodes.main.choices[1].speech[0]"].startswith("speech words must be text (got True")
    assert "nodes.main.choices[1].key" not in found  # key: 1 is read as the digit 1
