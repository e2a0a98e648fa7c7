"""Staffing formulas (docs/staffing.md, formulas v1) against hand-computed figures and a seeded simulation.

No database, no app: the service is pure math.
"""

from __future__ import annotations

import heapq
import math
import random

import pytest

from callcenter.services import staffing as st
from callcenter.services.staffing import IntervalForecast, StaffingInputError, staffing


def textbook_erlang_c(agents: int, erlangs: float) -> float:
    """The textbook closed form with factorials, written independently of the service's Erlang B recursion:
    C = (A^N/N! · N/(N-A)) / (Σ_{k<N} A^k/k! + A^N/N! · N/(N-A))."""
    top = erlangs**agents / math.factorial(agents) * agents / (agents - erlangs)
    return top / (sum(erlangs**k / math.factorial(k) for k in range(agents)) + top)


# The classic worked example (100 calls in 30 minutes, AHT 180 s -> A = 10 Erlangs, target 80 % in 20 s), the one
# reproduced in most WFM primers (e.g. Call Centre Helper's "Erlang C Formula - Made Simple", whose answer is 14
# agents). Figures worked by hand from the closed form; e.g. N = 14: C = 0.1741, e^(-4*20/180) = 0.6412,
# SL = 1 - 0.1741*0.6412 = 0.8884, ASA = 0.1741*180/4 = 7.8 s.
# agents -> (probability of waiting, service level at 20 s, average speed of answer in seconds).
TEXTBOOK = {
    11: (0.6821, 0.3896, 122.8),
    12: (0.4494, 0.6402, 40.4),
    13: (0.2853, 0.7956, 17.1),
    14: (0.1741, 0.8884, 7.8),
}


@pytest.mark.parametrize("agents", sorted(TEXTBOOK))
def test_textbook_case_erlang_c(agents):
    wait, service_level, asa = TEXTBOOK[agents]
    result = staffing(100, 30, 180, 0.8, 20, agents=agents)

    assert result.offered_erlangs == pytest.approx(10.0)
    assert result.wait_probability == pytest.approx(textbook_erlang_c(agents, 10.0), rel=1e-12)
    assert round(result.wait_probability, 4) == wait
    # SL = 1 - C·e^{-(N-A)·t/AHT}, ASA = C·AHT/(N-A), occupancy = A/N.
    by_hand = 1 - textbook_erlang_c(agents, 10.0) * math.exp(-(agents - 10) * 20 / 180)
    assert result.service_level == pytest.approx(by_hand, rel=1e-12)
    assert round(result.service_level, 4) == service_level
    assert round(result.asa_seconds, 1) == asa
    assert result.occupancy == pytest.approx(10 / agents)
    assert result.abandon_probability is None
    assert (result.raw_agents, result.agents) == (agents, agents)


def test_textbook_case_search_finds_14_agents():
    """13 agents give 79.6 %, just under the 80 % target: 14 is the answer."""
    result = staffing(100, 30, 180, 0.8, 20)
    assert (result.raw_agents, result.agents) == (14, 14)
    assert round(result.service_level, 4) == 0.8884


def test_occupancy_cap_can_ask_for_more_than_the_service_level():
    """A = 10: 14 agents meet 80/20 at 71.4 % occupancy; a 70 % cap needs ceil(10/0.7) = 15."""
    assert staffing(100, 30, 180, 0.8, 20, max_occupancy=0.75).raw_agents == 14
    capped = staffing(100, 30, 180, 0.8, 20, max_occupancy=0.7)
    assert capped.raw_agents == 15
    assert capped.occupancy <= 0.7


@pytest.mark.parametrize(("raw", "shrinkage", "expected"), [
    (14, 0.3, 20),   # 14 / 0.7 = 20 exactly (not 21 from floating point)
    (7, 0.3, 10),    # 7 / 0.7 = 10.000000000000002 in floating point: still 10
    (15, 0.3, 22),   # 21.43 → 22
    (10, 0.0, 10),
    (1, 0.5, 2),
    (0, 0.4, 0),
])
def test_shrinkage_rounds_up(raw, shrinkage, expected):
    assert st.with_shrinkage(raw, shrinkage) == expected


def test_shrinkage_applies_after_the_search():
    result = staffing(100, 30, 180, 0.8, 20, shrinkage=0.3)
    assert (result.raw_agents, result.agents) == (14, 20)
    # The figures are those of the agents on the phones, not of the scheduled head count.
    assert round(result.service_level, 4) == 0.8884


@pytest.mark.parametrize(("agents", "erlangs"), [(200, 190.0), (500, 480.0), (1000, 950.0), (1000, 999.5)])
def test_large_centres_do_not_overflow(agents, erlangs):
    """A^N/N! overflows a float long before N = 1000; the recursion does not."""
    with pytest.raises(OverflowError):
        float(erlangs**agents)  # what a naive formula would need
    wait = st.erlang_c(agents, erlangs)
    assert 0 < wait < 1
    # Reference: the same closed form in exact rationals-free logs (log-sum-exp), independent of the recursion.
    logs = [k * math.log(erlangs) - math.lgamma(k + 1) for k in range(agents)]
    top = agents * math.log(erlangs) - math.lgamma(agents + 1) + math.log(agents / (agents - erlangs))
    peak = max([*logs, top])
    reference = math.exp(top - peak) / (math.fsum(math.exp(x - peak) for x in logs) + math.exp(top - peak))
    assert wait == pytest.approx(reference, rel=1e-9)


def test_large_centre_search_meets_the_target():
    result = staffing(6000, 30, 300, 0.9, 15, max_occupancy=1.0)  # A = 1000 Erlangs
    assert result.offered_erlangs == pytest.approx(1000)
    assert result.service_level >= 0.9
    below = staffing(6000, 30, 300, 0.9, 15, agents=result.raw_agents - 1)
    assert below.service_level < 0.9


def test_understaffed_erlang_c_never_empties_its_queue():
    result = staffing(100, 30, 180, 0.8, 20, agents=10)
    assert (result.wait_probability, result.service_level, result.occupancy) == (1.0, 0.0, 1.0)
    assert math.isinf(result.asa_seconds)


def test_no_calls_need_no_agents():
    result = staffing(0, 30, 180, 0.8, 20, shrinkage=0.3, patience_seconds=60)
    assert (result.raw_agents, result.agents, result.service_level, result.abandon_probability) == (0, 0, 1.0, 0.0)


@pytest.mark.parametrize("bad", [
    {"calls": -1}, {"interval_minutes": 0}, {"aht_seconds": 0}, {"target_service_level": 1.0},
    {"target_service_level": 0}, {"max_occupancy": 0}, {"max_occupancy": 1.2}, {"shrinkage": 1.0},
    {"shrinkage": -0.1}, {"patience_seconds": 0}, {"answer_within_seconds": -5},
])
def test_impossible_inputs_are_refused(bad):
    values = {"calls": 100, "interval_minutes": 30, "aht_seconds": 180, "target_service_level": 0.8,
              "answer_within_seconds": 20} | bad
    with pytest.raises(StaffingInputError):
        staffing(**values)


# --- Erlang A -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("agents", [11, 12, 13, 14])
def test_erlang_a_tends_to_erlang_c_as_patience_grows(agents):
    c = staffing(100, 30, 180, 0.8, 20, agents=agents)
    a = staffing(100, 30, 180, 0.8, 20, agents=agents, patience_seconds=1e8)
    assert a.wait_probability == pytest.approx(c.wait_probability, abs=1e-4)
    assert a.service_level == pytest.approx(c.service_level, abs=1e-4)
    assert a.asa_seconds == pytest.approx(c.asa_seconds, rel=1e-3)
    assert a.occupancy == pytest.approx(c.occupancy, abs=1e-4)
    assert a.abandon_probability < 1e-5


def test_erlang_a_impatience_helps_those_who_stay():
    """Callers who hang up shorten the queue: less waiting than Erlang C, and fewer agents for the same target."""
    c = staffing(100, 30, 180, 0.8, 20)
    a = staffing(100, 30, 180, 0.8, 20, patience_seconds=60)
    assert a.raw_agents <= c.raw_agents
    evaluated = staffing(100, 30, 180, 0.8, 20, agents=12, patience_seconds=60)
    assert evaluated.asa_seconds < staffing(100, 30, 180, 0.8, 20, agents=12).asa_seconds
    assert 0 < evaluated.abandon_probability < evaluated.wait_probability


def test_erlang_a_is_stable_with_fewer_agents_than_erlangs():
    """Unlike Erlang C, a queue whose callers hang up settles even when N < A."""
    result = staffing(100, 30, 180, 0.8, 20, agents=8, patience_seconds=120)
    assert 0 < result.service_level < 1
    # Flow balance: everyone either gets an agent or hangs up; agents carry A·(1 - P(abandon)) Erlangs.
    assert result.occupancy * 8 == pytest.approx(10 * (1 - result.abandon_probability), rel=1e-9)


def test_erlang_a_search_returns_the_fewest_meeting_the_target():
    result = staffing(300, 30, 240, 0.85, 30, patience_seconds=90)  # A = 40 Erlangs
    assert result.service_level >= 0.85
    assert staffing(300, 30, 240, 0.85, 30, patience_seconds=90, agents=result.raw_agents - 1).service_level < 0.85


def simulate_mmn_m(erlangs: float, agents: int, aht: float, patience: float, within: float, callers: int,
                   seed: int) -> dict[str, float]:
    """First-come-first-served M/M/N+M, one caller at a time: with patience drawn on arrival, a caller's offered
    wait is when the earliest agent frees up after everyone ahead was placed; he is answered if he waits that long."""
    rng = random.Random(seed)
    arrival_rate = erlangs / aht
    free_at = [0.0] * agents  # heap of the times each agent frees up
    now = 0.0
    waited = answered_in_time = abandoned = queued = 0.0
    for _ in range(callers):
        now += rng.expovariate(arrival_rate)
        offered = max(0.0, free_at[0] - now)
        patience_draw = rng.expovariate(1 / patience)
        queued += offered > 0
        if offered <= patience_draw:
            heapq.heapreplace(free_at, now + offered + rng.expovariate(1 / aht))
            answered_in_time += offered <= within
            waited += offered
        else:
            abandoned += 1
            waited += patience_draw
    return {"wait_probability": queued / callers, "abandon_probability": abandoned / callers,
            "service_level": answered_in_time / callers, "asa_seconds": waited / callers}


@pytest.mark.parametrize(("agents", "patience"), [(9, 120.0), (11, 300.0)])
def test_erlang_a_matches_a_seeded_simulation(agents, patience):
    simulated = simulate_mmn_m(10.0, agents, 180.0, patience, 20.0, callers=300_000, seed=13)
    computed = staffing(100, 30, 180, 0.8, 20, agents=agents, patience_seconds=patience)
    assert computed.wait_probability == pytest.approx(simulated["wait_probability"], abs=0.01)
    assert computed.abandon_probability == pytest.approx(simulated["abandon_probability"], abs=0.01)
    assert computed.service_level == pytest.approx(simulated["service_level"], abs=0.01)
    assert computed.asa_seconds == pytest.approx(simulated["asa_seconds"], rel=0.05)


# --- shift plan ---------------------------------------------------------------------------------------------------


def test_shift_plan_staffs_each_interval_by_its_own_forecast():
    forecasts = [IntervalForecast(0, 180), IntervalForecast(100, 180), IntervalForecast(200, 180),
                 IntervalForecast(100, 90)]
    plan = st.shift_plan(forecasts, 30, 0.8, 20, shrinkage=0.3)
    assert [row.start_minute for row in plan] == [0, 30, 60, 90]
    assert [row.result.raw_agents for row in plan] == [0, 14, staffing(200, 30, 180, 0.8, 20).raw_agents,
                                                       staffing(100, 30, 90, 0.8, 20).raw_agents]
    assert plan[1].result.agents == 20
    assert plan[2].result.raw_agents > plan[1].result.raw_agents > plan[3].result.raw_agents


def test_inputs_that_would_take_minutes_are_refused():
    with pytest.raises(StaffingInputError):
        staffing(10**9, 30, 180, 0.8, 20)
    with pytest.raises(StaffingInputError):
        staffing(100, 30, 180, 0.8, 20, agents=10**7)
    with pytest.raises(StaffingInputError):
        staffing(100_000, 30, 1, 0.8, 86_400, patience_seconds=1)
