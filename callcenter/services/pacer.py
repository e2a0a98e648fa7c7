"""The pacer: how many lines a campaign dials now. One brain for the real dialer and for `callcenter bench dialer`.

Pure arithmetic on plain values (no database, Redis or clock), so the simulation drives exactly the code that
production runs, and every input of a decision can be shown beside it (the wallboard, each dial's `reason`).

**Progressive**: one line per available agent not already covered by a ringing line. An agent is never short of a
caller, so nobody is abandoned, and agents wait through every ring.

**Predictive** (adaptive, in the spirit of VICIdial's ADAPT methods, but with its inputs visible). With `T` = the
mean time for a dial to be answered or to fail (rolling statistics), when the lines dialled now will answer:

- each line in flight (ringing, or dialled now) is a live answer with probability `p`: the measured answer rate
  with PRIOR_DIALS imaginary live answers added, plus one standard error (`answer_rate_bound`); it starts at 1
  (progressive) and nears the measure, and over-estimating answers is the safe side;
- the agents free by a moment `s` are `F(s) = available + Σ Bernoulli(q_i)` over the busy agents: an agent expected
  to need `r` more seconds is free by `s` (plus the caller's hold, 2 s) with `q = 1 - exp(-(s + hold) / r)`, an
  exponential remainder with that mean (`r` unknown: the mean handle time; that unknown too: `q = 0`);
- the answers by `s` are `A(s) = W + Binomial(lines answering by s, p)`, `W` = callers already waiting. At the
  checkpoints `s = 0, T/4, T/2, 3T/4, T`: a ringing line of age `a` answers at `T - a`, counted at the checkpoint
  before (earlier is the safe side); lines dialled now answer at `T`;
- callers beyond the free agents are abandoned: the predicted abandon rate of `n` lines in flight is the largest
  expected overflow `E[max(0, A(s) - F(s))]` over the checkpoints, divided by the expected answers `W + n·p`
  (computed exactly: `F`'s distribution by convolution, then `g(a) = E[max(0, a - F)]` by
  `g(a + 1) = g(a) + P(F ≤ a)`);
- from the progressive count up, the pacer adds lines while the predicted rate stays within the **abandon limit**:
  the target less a safety margin (SAFETY_MARGIN of it: the model under-predicts, as it looks at five moments and
  not along the whole path), which shrinks fast when the actual rolling abandon rate is above it:
  `limit = max(0, base - BACKOFF_GAIN · (actual - base))`, `base = target · (1 - SAFETY_MARGIN)`. A limit of 0
  allows only lines that cannot overflow (`n + W ≤ available`): progressive;
- no more than `max_lines_per_agent` lines in flight per agent working (a bound for a campaign whose answer rate
  reads near zero);
- cold start: below `cold_start_dials` dials the pacer dials progressively.

Lines per agent (`lines_per_agent`) is the lines in flight after the decision (ringing + new) over the agents
working the campaign (available + busy): at most 1 in progressive mode.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from callcenter.services.messages import Message, t

PROGRESSIVE = "progressive"
PREDICTIVE = "predictive"
MODES = (PROGRESSIVE, PREDICTIVE)

DEFAULT_ABANDON_TARGET = 0.03  # of live answers, over a rolling 30 days
COLD_START_DIALS = 20
DEFAULT_MAX_LINES_PER_AGENT = 5.0
MAX_HOLD_SECONDS = 2.0  # a live answer waits this long for an agent before it counts as abandoned
CHECKPOINTS = 4  # now .. the mean dial time cut in this many steps: answers and free agents compared at each cut
PRIOR_DIALS = 20  # the answer rate starts as if this many dials had all been answered live
SAFETY_MARGIN = 0.5  # share of the target held back from the predicted rate (the model under-predicts)
BACKOFF_GAIN = 2.0  # each point of actual abandon above the margin's limit takes this many points off the limit


@dataclass(frozen=True)
class DialStats:
    """Rolling statistics of the campaign's dials (the caller picks the window).

    `mean_handle_seconds`: talk + hold + wrap-up of its answered calls; `mean_dial_seconds`: from placing a dial to
    its answer or failure; None when not known yet. The model uses `dials`, `live_answers` and the two means;
    `machines` and `abandoned` travel with them for whoever shows the decision.
    """

    dials: int = 0
    live_answers: int = 0
    machines: int = 0
    abandoned: int = 0
    mean_handle_seconds: float | None = None
    mean_dial_seconds: float | None = None

    @property
    def answer_rate(self) -> float:
        """Live answers per dial (0 before any dial)."""
        return self.live_answers / self.dials if self.dials else 0.0


@dataclass(frozen=True)
class PacerInputs:
    """Everything one decision looks at.

    `busy_remaining_seconds`: one entry per agent talking or wrapping up, their expected remaining handle time in
    seconds, or None when unknown. `lines_ringing`: dials placed and not yet answered or failed.
    `answered_waiting`: live callers answered and waiting for an agent. `actual_abandon_rate`: abandoned / live
    answers over the compliance window (30 days), computed by the caller; None when there is no live answer yet.
    """

    mode: str
    agents_available: int
    busy_remaining_seconds: tuple[float | None, ...] = ()
    lines_ringing: int = 0
    ringing_seconds: tuple[float, ...] = ()
    answered_waiting: int = 0
    hold_seconds: float = MAX_HOLD_SECONDS
    stats: DialStats = DialStats()
    abandon_target: float = DEFAULT_ABANDON_TARGET
    actual_abandon_rate: float | None = None
    max_lines_per_agent: float = DEFAULT_MAX_LINES_PER_AGENT
    cold_start_dials: int = COLD_START_DIALS

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, not {self.mode!r}")
        if self.agents_available < 0 or self.lines_ringing < 0 or self.answered_waiting < 0:
            raise ValueError("agents and lines cannot be negative")
        if len(self.ringing_seconds) > self.lines_ringing:
            raise ValueError("more ringing ages than lines ringing")
        if not 0 <= self.abandon_target < 1:
            raise ValueError("abandon_target must be in [0, 1)")

    @property
    def agents_working(self) -> int:
        """Agents logged in to the campaign and not paused: available plus busy."""
        return self.agents_available + len(self.busy_remaining_seconds)


@dataclass(frozen=True)
class PacerDecision:
    """How many lines to dial now, and why (the `reason` is stored with each dial and shown to supervisors).

    `predicted_abandon_rate`: abandoned / live answers expected of the lines in flight after this decision.
    `abandon_limit`: the bound that prediction was held to (0 in progressive mode and at cold start).
    """

    lines_to_dial: int
    lines_per_agent: float
    predicted_abandon_rate: float
    abandon_limit: float
    reason: Message


def decide(inputs: PacerInputs) -> PacerDecision:
    """The number of lines the campaign should dial now (see the module docstring for the model)."""
    if inputs.agents_working == 0:
        return PacerDecision(0, 0.0, 0.0, 0.0, t("No agent is working the campaign: no line is dialled"))
    if inputs.mode == PROGRESSIVE:
        return _progressive(inputs, t("%(idle)d available agents, %(ringing)d lines ringing: one line per "
                                      "available agent", idle=inputs.agents_available, ringing=inputs.lines_ringing))
    if inputs.stats.dials < inputs.cold_start_dials:
        return _progressive(inputs, t("Cold start: %(dials)d dials so far, fewer than %(needed)d, so one line per "
                                      "available agent", dials=inputs.stats.dials, needed=inputs.cold_start_dials))
    return _predictive(inputs)


def abandon_limit(target: float, actual: float | None) -> float:
    """The predicted abandon rate the pacer allows: the target less its margin, less more when actual runs high."""
    base = target * (1 - SAFETY_MARGIN)
    excess = max(0.0, (actual or 0.0) - base)
    return max(0.0, base - BACKOFF_GAIN * excess)


def _progressive(inputs: PacerInputs, reason: Message) -> PacerDecision:
    lines = max(0, inputs.agents_available - inputs.lines_ringing - inputs.answered_waiting)
    in_flight = inputs.lines_ringing + lines
    return PacerDecision(lines, in_flight / inputs.agents_working, 0.0, 0.0, reason)


def _predictive(inputs: PacerInputs) -> PacerDecision:
    stats = inputs.stats
    p_hat = stats.answer_rate
    p = answer_rate_bound(stats)
    horizon = stats.mean_dial_seconds or 0.0
    waiting = inputs.answered_waiting
    ringing = inputs.lines_ringing
    max_in_flight = max(ringing, math.floor(inputs.max_lines_per_agent * inputs.agents_working))
    limit = abandon_limit(inputs.abandon_target, inputs.actual_abandon_rate)

    # Checkpoints 0 < ... < horizon; a ringing line is counted as answering at the last checkpoint before its
    # expected answer (earlier is the safe side: fewer agents freed by then); lines dialled now answer at the horizon.
    checkpoints = [horizon * j / CHECKPOINTS for j in range(CHECKPOINTS + 1)]
    answering_by = [0] * (CHECKPOINTS + 1)  # ringing lines expected to have answered by each checkpoint
    for age in inputs.ringing_seconds:
        remaining = max(0.0, horizon - age)
        slot = CHECKPOINTS if horizon <= 0 else min(CHECKPOINTS, math.floor(remaining / horizon * CHECKPOINTS))
        for j in range(slot, CHECKPOINTS + 1):
            answering_by[j] += 1
    for j in range(CHECKPOINTS + 1):  # lines with no known age answer at once
        answering_by[j] += ringing - len(inputs.ringing_seconds)

    def overflow_at(j: int, lines: int) -> float:
        return _expected_overflow(overflows[j], lines, p, waiting)

    # Agents expected to need the same whole number of seconds are one binomial group (a floor of a thousand agents
    # is then a few hundred groups at most).
    busy = Counter(None if r is None else round(r) for r in inputs.busy_remaining_seconds)
    overflows = [_Overflow(inputs.agents_available,
                           [(_free_probability(r, at + inputs.hold_seconds, stats.mean_handle_seconds), count)
                            for r, count in busy.items()])
                 for at in checkpoints]
    before_horizon = max((overflow_at(j, answering_by[j]) for j in range(CHECKPOINTS)), default=0.0)

    def predicted_rate(lines: int) -> float:
        expected_answers = waiting + lines * p
        if expected_answers <= 0:
            return 0.0
        return max(before_horizon, overflow_at(CHECKPOINTS, lines)) / expected_answers

    # Lines within the progressive count never overflow (an available agent is there for each): always allowed.
    n = min(max(ringing, inputs.agents_available - waiting), max_in_flight)
    predicted = predicted_rate(n)
    while n < max_in_flight:
        candidate = predicted_rate(n + 1)
        if candidate > limit:
            break
        n, predicted = n + 1, candidate
    lines = n - ringing
    expected_free = sum(_free_probability(r, horizon, stats.mean_handle_seconds)
                        for r in inputs.busy_remaining_seconds)
    figures = dict(idle=inputs.agents_available, free=expected_free, horizon=horizon, ringing=ringing, p=p_hat,
                   predicted=predicted, limit=limit, target=inputs.abandon_target,
                   actual=inputs.actual_abandon_rate or 0.0)
    if predicted <= limit:
        reason = t("%(idle)d available and %(free).1f more expected free in %(horizon).0f s, %(ringing)d lines "
                   "ringing, answer rate %(p).2f: predicted abandon %(predicted).3f ≤ limit %(limit).3f (target "
                   "%(target).3f, actual %(actual).3f)", **figures)
    else:  # the lines already ringing (or the callers waiting) are over the limit: no line beyond progressive
        reason = t("%(idle)d available and %(free).1f more expected free in %(horizon).0f s, %(ringing)d lines "
                   "ringing, answer rate %(p).2f: predicted abandon %(predicted).3f > limit %(limit).3f (target "
                   "%(target).3f, actual %(actual).3f): no line beyond one per available agent", **figures)
    return PacerDecision(lines, n / inputs.agents_working, predicted, limit, reason)


def answer_rate_bound(stats: DialStats) -> float:
    """The answer rate the pacer plans with: a pessimistic (high) estimate that starts at 1 and nears the measure.

    PRIOR_DIALS imaginary dials all answered live are added to the statistics, then one standard error on top.
    """
    dials = stats.dials + PRIOR_DIALS
    p = (stats.live_answers + PRIOR_DIALS) / dials
    return min(1.0, p + math.sqrt(p * (1 - p) / dials))


def _free_probability(remaining: float | None, horizon: float, mean_handle: float | None) -> float:
    """Chance that a busy agent is free within `horizon` seconds (exponential remainder)."""
    mean = remaining if remaining is not None else mean_handle
    if mean is None or horizon <= 0:
        return 0.0
    if mean <= 0:
        return 1.0
    return 1.0 - math.exp(-horizon / mean)


class _Overflow:
    """g(a) = E[max(0, a - F)] for F = available + Σ Bernoulli(q) over busy agents, the agents free at one moment.

    F's distribution by convolution (equal q's as one binomial, negligible tails trimmed), then
    g(a + 1) = g(a) + P(F ≤ a); beyond F's largest value, g(a) = a - E[F].
    """

    def __init__(self, available: int, groups: Sequence[tuple[float, int]]) -> None:
        pmf = [1.0]  # of the busy agents freed
        for q, count in groups:
            pmf = _add_bernoulli(pmf, q) if count == 1 else _convolve(pmf, _binomial_pmf(count, q))
            while len(pmf) > 1 and pmf[-1] < 1e-12:
                pmf.pop()
        self.table = [0.0] * (available + 1)
        cdf = g = 0.0
        for value in pmf:
            cdf += value
            g += min(1.0, cdf)
            self.table.append(g)
        self.mean_free = available + sum(k * value for k, value in enumerate(pmf))

    def at(self, answers: int) -> float:
        """E[max(0, answers - F)]."""
        return self.table[answers] if answers < len(self.table) else answers - self.mean_free


def _expected_overflow(overflow: _Overflow, lines: int, p: float, waiting: int) -> float:
    """E[max(0, A - F)] with A = waiting + Binomial(lines, p)."""
    return sum(prob * overflow.at(waiting + k) for k, prob in enumerate(_binomial_pmf(lines, p)) if prob)


def _binomial_pmf(n: int, p: float) -> list[float]:
    """P(X = k), k = 0..n, for X ~ Binomial(n, p): by the ratio recurrence, or in logs where (1 - p)^n underflows."""
    if p <= 0:
        return [1.0] + [0.0] * n
    if p >= 1:
        return [0.0] * n + [1.0]
    log_q = math.log1p(-p)
    if n * log_q > -700:
        value = math.exp(n * log_q)
        odds = p / (1 - p)
        pmf = [value]
        for k in range(n):
            value = value * (n - k) / (k + 1) * odds
            pmf.append(value)
        return pmf
    log_p, log_n = math.log(p), math.lgamma(n + 1)
    return [math.exp(log_n - math.lgamma(k + 1) - math.lgamma(n - k + 1) + k * log_p + (n - k) * log_q)
            for k in range(n + 1)]


def _add_bernoulli(pmf: list[float], q: float) -> list[float]:
    """The distribution of X + Bernoulli(q), given X's."""
    out = [value * (1 - q) for value in pmf] + [0.0]
    for k, value in enumerate(pmf):
        out[k + 1] += value * q
    return out


def _convolve(a: list[float], b: list[float]) -> list[float]:
    out = [0.0] * (len(a) + len(b) - 1)
    for i, x in enumerate(a):
        if x:
            for j, y in enumerate(b):
                out[i + j] += x * y
    return out
