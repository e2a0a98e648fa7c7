"""How many agents an interval needs: Erlang C, Erlang A (M/M/N+M), maximum occupancy, shrinkage, a shift plan.

Pure math (no Flask, no database), so the page, the command and a future forecast job share one set of formulas;
they are written down with their version in docs/staffing.md ("formulas v1"). Times are in seconds.

- Erlang C (M/M/N): callers wait forever. P(wait) comes from the Erlang B recursion, which stays finite for
  thousands of agents where A^N/N! would overflow.
- Erlang A (M/M/N+M, Palm): each waiting caller hangs up after an exponential patience of mean θ. The stationary
  distribution of the birth-death chain is computed in logs and its tail truncated below 1e-15; the chance that a
  caller who finds j others waiting is answered within t comes from uniformising the small death chain he walks
  down.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from callcenter.services.errors import ValidationFailed
from callcenter.services.messages import t

FORMULAS_VERSION = "formulas v1"

# The stationary tail is dropped once a term is this small relative to the largest one.
_TAIL_EPSILON = 1e-15
# A guard against a tail that would never end (patience so long that the queue is practically unstable).
_MAX_QUEUE_STATES = 200_000
# Search guard: no interval of a real centre needs more agents than this.
MAX_AGENTS = 100_000
# Input guards, so that one request to the page cannot keep a web process busy for minutes.
MAX_ERLANGS = 20_000.0
_MAX_UNIFORMISATION_WORK = 20_000_000


class StaffingInputError(ValidationFailed):
    """An input the formulas cannot take (negative calls, a target of 100 %...); the message says which."""


@dataclass(frozen=True)
class StaffingResult:
    """One interval's staffing: the figures the page and the command print."""

    offered_erlangs: float
    raw_agents: int
    agents: int
    service_level: float
    occupancy: float
    wait_probability: float
    asa_seconds: float
    abandon_probability: float | None  # None for Erlang C (nobody hangs up)


@dataclass(frozen=True)
class IntervalForecast:
    """Calls expected in one interval of the day and their average handle time."""

    calls: float
    aht_seconds: float


@dataclass(frozen=True)
class IntervalStaffing:
    """A shift plan's row: the interval's index and start (minutes after the plan's start), forecast, staffing."""

    index: int
    start_minute: int
    calls: float
    aht_seconds: float
    result: StaffingResult


@dataclass(frozen=True)
class _Figures:
    service_level: float
    occupancy: float
    wait_probability: float
    asa_seconds: float
    abandon_probability: float | None


# --- Erlang C ---------------------------------------------------------------------------------------------------


def erlang_b(agents: int, erlangs: float) -> float:
    """Blocking probability B(N, A) by the recursion B(n) = A·B(n-1) / (n + A·B(n-1)): no factorials, no overflow."""
    blocking = 1.0
    for n in range(1, agents + 1):
        blocking = erlangs * blocking / (n + erlangs * blocking)
    return blocking


def erlang_c(agents: int, erlangs: float) -> float:
    """Probability that a caller waits, C(N, A) = N·B / (N - A·(1 - B)); 1 when N ≤ A (the queue never empties)."""
    if erlangs <= 0:
        return 0.0
    if agents <= erlangs:
        return 1.0
    blocking = erlang_b(agents, erlangs)
    return agents * blocking / (agents - erlangs * (1 - blocking))


def _erlang_c_figures(agents: int, erlangs: float, aht: float, answer_within: float) -> _Figures:
    if erlangs <= 0:
        return _Figures(1.0, 0.0, 0.0, 0.0, None)
    if agents <= erlangs:
        return _Figures(0.0, 1.0, 1.0, math.inf, None)
    wait = erlang_c(agents, erlangs)
    service_level = 1 - wait * math.exp(-(agents - erlangs) * answer_within / aht)
    return _Figures(service_level=service_level, occupancy=erlangs / agents, wait_probability=wait,
                    asa_seconds=wait * aht / (agents - erlangs), abandon_probability=None)


# --- Erlang A ---------------------------------------------------------------------------------------------------


def _stationary(agents: int, arrival_rate: float, service_rate: float, abandon_rate: float) -> list[float]:
    """π_0..π_K of the M/M/N+M chain, computed in logs (no overflow for N in the thousands), tail cut at 1e-15."""
    logs = [0.0]
    log_rate = math.log(arrival_rate)
    for k in range(1, agents + 1):
        logs.append(logs[-1] + log_rate - math.log(k * service_rate))
    peak = max(logs)
    k = agents
    while True:
        k += 1
        death = agents * service_rate + (k - agents) * abandon_rate
        logs.append(logs[-1] + log_rate - math.log(death))
        peak = max(peak, logs[-1])
        # Past the mode the terms only shrink (deaths grow with the queue), so the first tiny one ends the tail.
        if death > arrival_rate and logs[-1] - peak < math.log(_TAIL_EPSILON):
            break
        if k - agents > _MAX_QUEUE_STATES:
            raise StaffingInputError(t("Patience too long for so few agents: the queue would never settle."))
    weights = [math.exp(value - peak) for value in logs]
    total = math.fsum(weights)
    return [w / total for w in weights]


def _answered_within(queue_states: int, agents: int, service_rate: float, abandon_rate: float,
                     within: float) -> list[float]:
    """u[j] = P(a caller who finds j others waiting is answered within `within` seconds), j = 0..queue_states-1.

    With i callers ahead, the one ahead leaves the queue at rate N·mu + i·gamma (an agent frees up, or one of them hangs
    up) and the caller himself hangs up at rate gamma. The backward equations of that death chain are solved for every
    j at once by uniformisation; the Poisson weights are taken in logs so a long interval does not underflow.
    """
    if queue_states == 0:
        return []
    if within <= 0:
        return [0.0] * queue_states
    uniform = agents * service_rate + queue_states * abandon_rate  # the largest total rate of any state
    forward = [(agents * service_rate + i * abandon_rate) / uniform for i in range(queue_states)]
    stay = [1 - (agents * service_rate + (i + 1) * abandon_rate) / uniform for i in range(queue_states)]
    mean = uniform * within
    steps = int(mean + 12 * math.sqrt(mean) + 30)
    if steps * queue_states > _MAX_UNIFORMISATION_WORK:
        raise StaffingInputError(t("The answer time is too long for these handle and patience times."),
                                 field="answer_within_seconds")
    log_mean = math.log(mean)
    values = [0.0] * queue_states  # P(answered within 0 uniformised steps)
    answered = [0.0] * queue_states
    for n in range(steps + 1):
        weight = math.exp(-mean + n * log_mean - math.lgamma(n + 1))
        if weight:
            for j in range(queue_states):
                answered[j] += weight * values[j]
        # One more uniformised step: from i ahead, move to i-1 ahead (or be answered when i = 0), stay, or hang up.
        values = [forward[i] * (values[i - 1] if i else 1.0) + stay[i] * values[i] for i in range(queue_states)]
    return [min(1.0, value) for value in answered]


def _erlang_a_figures(agents: int, erlangs: float, aht: float, answer_within: float,
                      patience: float) -> _Figures:
    if erlangs <= 0:
        return _Figures(1.0, 0.0, 0.0, 0.0, 0.0)
    if agents <= 0:
        return _Figures(0.0, 0.0, 1.0, patience, 1.0)
    service_rate = 1 / aht
    arrival_rate = erlangs * service_rate
    abandon_rate = 1 / patience
    pi = _stationary(agents, arrival_rate, service_rate, abandon_rate)
    waiting = pi[agents:]  # arrivals that find every agent busy and j = 0, 1, ... others waiting (PASTA)
    queue_length = math.fsum(j * p for j, p in enumerate(waiting))
    busy = math.fsum(min(k, agents) * p for k, p in enumerate(pi))
    answered = _answered_within(len(waiting), agents, service_rate, abandon_rate, answer_within)
    late = math.fsum(p * (1 - u) for p, u in zip(waiting, answered, strict=True))
    return _Figures(service_level=max(0.0, 1 - late), occupancy=busy / agents,
                    wait_probability=math.fsum(waiting), asa_seconds=queue_length / arrival_rate,
                    abandon_probability=abandon_rate * queue_length / arrival_rate)


# --- the public calls -------------------------------------------------------------------------------------------


def _check(calls: float, interval_minutes: float, aht_seconds: float, target_service_level: float,
           answer_within_seconds: float, max_occupancy: float, shrinkage: float,
           patience_seconds: float | None) -> None:
    if calls < 0:
        raise StaffingInputError(t("Calls cannot be negative."), field="calls")
    if interval_minutes <= 0:
        raise StaffingInputError(t("The interval must be longer than zero minutes."), field="interval_minutes")
    if aht_seconds <= 0:
        raise StaffingInputError(t("The average handle time must be longer than zero seconds."), field="aht_seconds")
    if not 0 < target_service_level < 1:
        raise StaffingInputError(t("The service level target must be between 0 and 1 (both excluded)."),
                                 field="target_service_level")
    if answer_within_seconds < 0:
        raise StaffingInputError(t("The answer time cannot be negative."), field="answer_within_seconds")
    if not 0 < max_occupancy <= 1:
        raise StaffingInputError(t("The maximum occupancy must be above 0 and at most 1."), field="max_occupancy")
    if not 0 <= shrinkage < 1:
        raise StaffingInputError(t("Shrinkage must be at least 0 and below 1."), field="shrinkage")
    if patience_seconds is not None and patience_seconds <= 0:
        raise StaffingInputError(t("Patience must be longer than zero seconds."), field="patience_seconds")


def with_shrinkage(raw_agents: int, shrinkage: float) -> int:
    """Agents to schedule so that `raw_agents` remain on the phones: ceil(raw / (1 - shrinkage))."""
    # Rounded to 9 places first so that 7 / (1 - 0.3) = 10.000000000000002 schedules 10, not 11.
    return math.ceil(round(raw_agents / (1 - shrinkage), 9))


def offered_load(calls: float, interval_minutes: float, aht_seconds: float) -> float:
    """Traffic intensity in Erlangs: A = λ·AHT, with λ in calls per second."""
    return calls / (interval_minutes * 60) * aht_seconds


def _figures(agents: int, erlangs: float, aht: float, answer_within: float, patience: float | None) -> _Figures:
    if patience is None:
        return _erlang_c_figures(agents, erlangs, aht, answer_within)
    return _erlang_a_figures(agents, erlangs, aht, answer_within, patience)


def _meets(figures: _Figures, target: float, max_occupancy: float) -> bool:
    # A hair of tolerance: a target met to the 12th decimal is met (80 % exactly is a common hand fixture).
    return figures.service_level >= target - 1e-12 and figures.occupancy <= max_occupancy + 1e-12


def staffing(calls: float, interval_minutes: float, aht_seconds: float, target_service_level: float,
             answer_within_seconds: float, max_occupancy: float = 1.0, shrinkage: float = 0.0,
             patience_seconds: float | None = None, agents: int | None = None) -> StaffingResult:
    """Agents for one interval: the fewest meeting the service level and the occupancy cap, or `agents` evaluated.

    Without `patience_seconds` it is Erlang C; with it, Erlang A. `agents`, when given, is the number on the phones
    (before shrinkage) and is evaluated as is, met or not.
    """
    _check(calls, interval_minutes, aht_seconds, target_service_level, answer_within_seconds, max_occupancy,
           shrinkage, patience_seconds)
    erlangs = offered_load(calls, interval_minutes, aht_seconds)
    if erlangs > MAX_ERLANGS:
        raise StaffingInputError(t("More than %(max)d Erlangs in one interval: split the work.",
                                   max=int(MAX_ERLANGS)), field="calls")
    if agents is not None:
        if not 0 <= agents <= MAX_AGENTS:
            raise StaffingInputError(t("Agents must be between 0 and %(max)d.", max=MAX_AGENTS), field="agents")
        raw = agents
    else:
        raw = _search(erlangs, aht_seconds, target_service_level, answer_within_seconds, max_occupancy,
                      patience_seconds)
    figures = _figures(raw, erlangs, aht_seconds, answer_within_seconds, patience_seconds)
    return StaffingResult(offered_erlangs=erlangs, raw_agents=raw, agents=with_shrinkage(raw, shrinkage),
                          service_level=figures.service_level, occupancy=figures.occupancy,
                          wait_probability=figures.wait_probability, asa_seconds=figures.asa_seconds,
                          abandon_probability=figures.abandon_probability)


def _search(erlangs: float, aht: float, target: float, answer_within: float, max_occupancy: float,
            patience: float | None) -> int:
    """The smallest N meeting both the target and the occupancy cap (both only improve as N grows)."""
    if erlangs <= 0:
        return 0

    def ok(n: int) -> bool:
        return _meets(_figures(n, erlangs, aht, answer_within, patience), target, max_occupancy)

    if patience is None:
        # Erlang C needs N > A, and the occupancy A/N ≤ cap gives a second floor; then a short walk up.
        n = max(math.floor(erlangs) + 1, math.ceil(round(erlangs / max_occupancy, 9)))
        while not ok(n):
            n += 1
            if n > MAX_AGENTS:
                raise StaffingInputError(t("More agents than any interval needs: check the inputs."))
        return n
    # Erlang A may need fewer agents than Erlangs (callers hang up), and each evaluation costs more: bisect.
    high = max(1, math.ceil(erlangs))
    while not ok(high):
        high *= 2
        if high > MAX_AGENTS:
            raise StaffingInputError(t("More agents than any interval needs: check the inputs."))
    low = 0  # never enough: there are calls
    while high - low > 1:
        middle = (low + high) // 2
        if ok(middle):
            high = middle
        else:
            low = middle
    return high


def shift_plan(forecasts: Sequence[IntervalForecast], interval_minutes: float, target_service_level: float,
               answer_within_seconds: float, max_occupancy: float = 1.0, shrinkage: float = 0.0,
               patience_seconds: float | None = None) -> list[IntervalStaffing]:
    """The agents needed in each interval of a day, from its forecast calls and AHT, with the same rules each."""
    plan = []
    for index, forecast in enumerate(forecasts):
        result = staffing(forecast.calls, interval_minutes, forecast.aht_seconds, target_service_level,
                          answer_within_seconds, max_occupancy, shrinkage, patience_seconds)
        plan.append(IntervalStaffing(index=index, start_minute=round(index * interval_minutes),
                                     calls=forecast.calls, aht_seconds=forecast.aht_seconds, result=result))
    return plan
