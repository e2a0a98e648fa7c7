"""The pure navigator: keys, speech, re-prompts and defaults, goto chains, and the path element consumed."""

from __future__ import annotations

from callcenter.services.ivr_flows import (
    Callback,
    Hangup,
    Prompt,
    RouteToQueue,
    Voicemail,
    decide,
    hours_queue_name,
    start_prompt,
)


def test_a_key_routes_to_its_queue_and_reports_the_step(default_flow):
    decision = decide(default_flow, "main", 0, "1", None)

    assert decision == RouteToQueue("Sales", 0, {"node": "main", "input": "1", "via": "dtmf"})


def test_speech_matches_whole_words_case_insensitively(default_flow):
    assert decide(default_flow, "main", 0, None, "I'd like to talk about my INVOICE please").queue_name == "Billing"
    # "salesman" contains "sales" but is not the word: not understood, so a re-prompt.
    assert decide(default_flow, "main", 0, None, "salesman") == Prompt("main", 1, True)


def test_a_phrase_beats_a_word_inside_it(default_flow):
    decision = decide(default_flow, "support_menu", 0, "", "could you call back later")
    assert isinstance(decision, Callback)
    assert decision.step == {"node": "support_menu", "input": "could you call back later", "via": "speech"}
    # "back" alone is the go-back word of choice 9, so "back to the call" goes back to the main menu.
    assert decide(default_flow, "support_menu", 0, "", "back to the call").node_id == "main"


def test_speech_naming_two_choices_is_not_guessed(default_flow):
    assert decide(default_flow, "main", 0, None, "sales or support") == Prompt("main", 1, True)


def test_dtmf_wins_over_speech(default_flow):
    assert decide(default_flow, "main", 0, "3", "sales").queue_name == "Billing"


def test_wrong_key_reprompts_twice_then_takes_the_default(default_flow):
    first = decide(default_flow, "main", 0, "7", None)
    second = decide(default_flow, "main", first.attempt, "8", None)
    third = decide(default_flow, "main", second.attempt, "#", None)

    assert (first, second) == (Prompt("main", 1, True), Prompt("main", 2, True))
    assert third == RouteToQueue("Support", 0, {"node": "main", "input": "#", "via": "default"})


def test_no_input_reprompts_then_defaults(default_flow):
    attempt, decisions = 0, []
    while True:
        decision = decide(default_flow, "main", attempt, None, None)
        decisions.append(decision)
        if not isinstance(decision, Prompt):
            break
        attempt = decision.attempt
    assert decisions == [Prompt("main", 1, True), Prompt("main", 2, True),
                         RouteToQueue("Support", 0, {"node": "main", "input": None, "via": "default"})]


def test_goto_chain_builds_the_path(default_flow):
    path = []
    to_support = decide(default_flow, "main", 0, "2", None)
    path.append(to_support.step)
    assert to_support == Prompt("support_menu", 0, False, {"node": "main", "input": "2", "via": "dtmf"})

    back = decide(default_flow, to_support.node_id, 0, "9", None)
    path.append(back.step)
    assert back.node_id == "main" and back.reprompt is False

    again = decide(default_flow, back.node_id, 0, "2", None)
    routed = decide(default_flow, again.node_id, 0, None, "the app is broken")
    path += [again.step, routed.step]
    assert routed == RouteToQueue("Support", 1, routed.step)
    assert [(s["node"], s["input"], s["via"]) for s in path] == [
        ("main", "2", "dtmf"), ("support_menu", "9", "dtmf"), ("main", "2", "dtmf"),
        ("support_menu", "the app is broken", "speech")]


def test_actions_and_messages(default_flow):
    default_flow["nodes"]["main"]["choices"].append({"key": "#", "action": "hangup", "message": "Bye now."})
    assert isinstance(decide(default_flow, "main", 0, "0", None), Voicemail)
    assert decide(default_flow, "main", 0, "#", None) == Hangup("Bye now.", {"node": "main", "input": "#",
                                                                             "via": "dtmf"})


def test_yaml_integer_keys_match_pressed_digits(default_flow):
    default_flow["nodes"]["main"]["choices"][0]["key"] = 1
    assert decide(default_flow, "main", 0, "1", None).queue_name == "Sales"


def test_a_node_removed_mid_call_restarts_at_the_start(default_flow):
    assert decide(default_flow, "gone", 1, "1", None) == Prompt("main", 0, True)
    assert start_prompt(default_flow) == Prompt("main", 0, False)


def test_hours_queue_defaults_to_the_first_queue_reachable(default_flow):
    assert hours_queue_name(default_flow) == "Support"
    del default_flow["hours_queue"]
    assert hours_queue_name(default_flow) == "Sales"
