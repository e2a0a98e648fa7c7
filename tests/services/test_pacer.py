"""The pacer (docs/pacer.md) against hand-computed decisions. No database, no app: the service is pure arithmetic."""

from __future__ import annotations

import math

import pytest

from callcenter.services import pacer
from callcenter.services.pacer import DialStats, PacerInputs, decide

# 10,000 dials, 200 live: the answer rate planned with is (200 + 20) / (10,000 + 20) plus one standard error.
LOW_ANSWER_STATS = DialStats(dials=10_000, live_answers=200, machines=1_000, abandoned=0,
                             mean_handle_seconds=120.0, mean_dial_seconds=18.0)
# 10,000 dials, 3,000 live (0.30).
MID_ANSWER_STATS = DialStats(dials=10_000, live_answers=3_000, machines=1_000, abandoned=0,
                             mean_handle_seconds=120.0, mean_dial_seconds=18.0)
P_PLANNED = 220 / 10_020 + math.sqrt(220 / 10_020 * (1 - 220 / 10_020) / 10_020)  # 0.02342


def predictive(**fields) -> PacerInputs:
    fields.setdefault("stats", LOW_ANSWER_STATS)
    return PacerInputs(mode="predictive", **fields)


def test_progressive_dials_one_line_per_available_agent_not_covered_by_a_ringing_line():
    decision = decide(PacerInputs(mode="progressive", agents_available=5, busy_remaining_seconds=(None, 30.0, None),
                                  lines_ringing=2, stats=LOW_ANSWER_STATS))

    assert decision.lines_to_dial == 3
    assert decision.lines_per_agent == pytest.approx(5 / 8)  # 2 ringing + 3 new over 5 available + 3 busy
    assert decision.predicted_abandon_rate == 0.0
    assert "5 available agents, 2 lines ringing" in decision.reason


def test_progressive_never_dials_more_lines_than_available_agents():
    assert decide(PacerInputs(mode="progressive", agents_available=2, lines_ringing=4)).lines_to_dial == 0
    assert decide(PacerInputs(mode="progressive", agents_available=0, busy_remaining_seconds=(1.0,) * 10,
                              stats=LOW_ANSWER_STATS)).lines_to_dial == 0


@pytest.mark.parametrize("mode", pacer.MODES)
def test_no_agent_working_means_no_line(mode):
    decision = decide(PacerInputs(mode=mode, agents_available=0, lines_ringing=3, stats=LOW_ANSWER_STATS))

    assert (decision.lines_to_dial, decision.lines_per_agent) == (0, 0.0)
    assert decision.reason.msgid == "No agent is working the campaign: no line is dialled"


def test_cold_start_is_progressive():
    few = DialStats(dials=pacer.COLD_START_DIALS - 1, live_answers=2, mean_handle_seconds=60.0,
                    mean_dial_seconds=15.0)

    decision = decide(predictive(agents_available=4, busy_remaining_seconds=(1.0,) * 6, lines_ringing=1,
                                 stats=few))

    assert decision.lines_to_dial == 3
    assert decision.reason.startswith("Cold start: 19 dials so far")


def test_the_planned_answer_rate_starts_at_one_and_nears_the_measured_rate():
    assert pacer.answer_rate_bound(DialStats()) == 1.0
    assert pacer.answer_rate_bound(LOW_ANSWER_STATS) == pytest.approx(P_PLANNED)
    assert 0.02 < P_PLANNED < 0.024


def test_predictive_dials_while_the_predicted_abandon_rate_stays_within_the_limit():
    # One available agent, nothing ringing, nobody busy. With n lines, A ~ Binomial(n, p) and F = 1:
    #   n = 2: E[max(0, A - 1)] = p^2,             rate = p^2 / 2p = p / 2          = 0.0117 <= 0.015
    #   n = 3: E[max(0, A - 1)] = 3p^2(1-p) + 2p^3, rate = p - p^2 / 3             = 0.0232 >  0.015
    decision = decide(predictive(agents_available=1))

    assert decision.abandon_limit == pytest.approx(0.015)  # target 0.03 less its 50 % margin
    assert decision.lines_to_dial == 2
    assert decision.lines_per_agent == 2.0
    assert decision.predicted_abandon_rate == pytest.approx(P_PLANNED / 2)
    assert "predicted abandon 0.012 ≤ limit 0.015" in decision.reason


def test_predictive_backs_off_to_progressive_when_the_actual_abandon_rate_exceeds_the_target():
    decision = decide(predictive(agents_available=1, actual_abandon_rate=0.04))

    # limit = 0.015 - 2 x (0.04 - 0.015) < 0 -> 0: only the line the available agent covers.
    assert decision.abandon_limit == 0.0
    assert decision.lines_to_dial == 1
    assert decision.predicted_abandon_rate == 0.0
    assert "actual 0.040" in decision.reason


def test_the_limit_shrinks_fast_as_the_actual_rate_rises():
    assert pacer.abandon_limit(0.03, None) == pytest.approx(0.015)
    assert pacer.abandon_limit(0.03, 0.01) == pytest.approx(0.015)
    assert pacer.abandon_limit(0.03, 0.02) == pytest.approx(0.005)  # 0.015 - 2 x 0.005
    assert pacer.abandon_limit(0.03, 0.0225) == 0.0
    assert pacer.abandon_limit(0.05, None) == pytest.approx(0.025)


def test_predictive_dials_for_agents_about_to_be_free_that_progressive_ignores():
    wrapping_up = (1.0, 1.0, 1.0, 1.0)  # four agents free in about a second; the lines answer in about 18 s

    ahead = decide(predictive(agents_available=0, busy_remaining_seconds=wrapping_up, stats=MID_ANSWER_STATS))
    waits = decide(PacerInputs(mode="progressive", agents_available=0, busy_remaining_seconds=wrapping_up))

    assert waits.lines_to_dial == 0
    assert 4 < ahead.lines_to_dial < 4 / 0.3  # more lines than agents, fewer than would answer 4 on average
    assert ahead.predicted_abandon_rate <= ahead.abandon_limit


def test_agents_talking_for_an_unknown_time_are_not_counted_on_alone():
    # 20 agents talking (mean handle 120 s), none available: with one line, P(answer) x P(nobody free by 18 + 2 s)
    # = 0.3 x (e^(-20/120))^20 ~ 0.011 callers abandoned per 0.3 answers, a rate of 0.036 > 0.015.
    decision = decide(predictive(agents_available=0, busy_remaining_seconds=(None,) * 20, stats=MID_ANSWER_STATS))

    assert decision.lines_to_dial == 0
    assert "2.8 more expected free in 18 s" in decision.reason  # 20 x (1 - e^(-18/120))


def test_lines_already_ringing_count_against_the_new_ones():
    alone = decide(predictive(agents_available=3, stats=MID_ANSWER_STATS))
    just_placed = decide(predictive(agents_available=3, lines_ringing=2, ringing_seconds=(0.0, 0.0),
                                    stats=MID_ANSWER_STATS))
    unknown_age = decide(predictive(agents_available=3, lines_ringing=4, stats=MID_ANSWER_STATS))

    # F = 3, p = 0.305: n = 4 -> p^4 / 4p = 0.007; n = 5 -> (5p^4(1-p) + 2p^5) / 5p = 0.023 > 0.015.
    assert alone.lines_to_dial == 4
    assert just_placed.lines_to_dial == 2  # lines placed a moment ago are the same as lines placed now
    assert unknown_age.lines_to_dial == 0


def test_callers_waiting_for_an_agent_take_the_available_ones_first():
    assert decide(predictive(agents_available=2, answered_waiting=1, stats=MID_ANSWER_STATS)).lines_to_dial == 1
    assert decide(predictive(agents_available=2, answered_waiting=2, actual_abandon_rate=0.05)).lines_to_dial == 0


def test_lines_in_flight_are_capped_per_agent_when_the_answer_rate_reads_near_zero():
    silent = DialStats(dials=100_000, live_answers=0, mean_handle_seconds=60.0, mean_dial_seconds=20.0)

    decision = decide(predictive(agents_available=2, busy_remaining_seconds=(None,), lines_ringing=5,
                                 stats=silent, max_lines_per_agent=4.0))

    assert decision.lines_to_dial == 12 - 5  # 4 lines x 3 agents working, 5 of them already ringing
    assert decision.lines_per_agent == 4.0


def test_expected_overflow_of_a_small_floor():
    # One agent available, one busy agent free with probability 1/2: F is 1 or 2, each with probability 1/2.
    overflow = pacer._Overflow(available=1, groups=[(0.5, 1)])

    assert [overflow.at(a) for a in range(4)] == pytest.approx([0.0, 0.0, 0.5, 1.5])
    assert overflow.at(10) == pytest.approx(10 - 1.5)


def test_inputs_are_checked():
    with pytest.raises(ValueError):
        PacerInputs(mode="preview", agents_available=1)
    with pytest.raises(ValueError):
        PacerInputs(mode="predictive", agents_available=-1)
    with pytest.raises(ValueError):
        PacerInputs(mode="predictive", agents_available=1, lines_ringing=1, ringing_seconds=(1.0, 2.0))


def test_the_reason_says_when_the_lines_already_ringing_are_over_the_limit():
    decision = decide(predictive(agents_available=1, lines_ringing=6, stats=MID_ANSWER_STATS))

    assert decision.lines_to_dial == 0
    assert decision.predicted_abandon_rate > decision.abandon_limit
    assert "> limit 0.015" in decision.reason
    assert decision.reason.endswith("no line beyond one per available agent")
