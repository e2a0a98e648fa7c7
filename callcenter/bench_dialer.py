"""`callcenter bench dialer`: an outbound campaign on virtual time, paced by the real `services.pacer.decide`.

A discrete-event simulation (a heap of events; no clock, no sleeping, no threads), so an hour of dialing takes
about half a second and every run is exactly reproducible.

The model:
- `agents` agents are logged in for the whole run (`minutes`) and never pause.
- The pacer is consulted every virtual second and whenever an agent becomes free; each of its lines is dialled at
  once (no calls-per-second limit here: the real dialer's business).
- Dial number i (0, 1, 2, ... in the order dialled) draws its fate from its own stream,
  `random.Random(f"{seed}:{i}")`: it rings 10-25 s (uniform), then is a live answer with probability
  `answer_rate`, a machine with `machine_rate`, else no answer / busy; a live answer talks for an exponential time.
  So both modes, run with the same seed, meet the same sequence of outcomes.
- A machine is classified after 5 s of answering-machine detection, then hangs up; until then its line counts as
  ringing (not yet answered or failed). Machines and no-answers never need an agent.
- A live answer is bridged to the agent free longest; with no agent free, the caller waits up to
  `min(2 s, patience_seconds)` — 2 s is the regulatory limit before a call counts as abandoned, and a caller whose
  patience is shorter hangs up sooner — and is bridged to the first agent freed in that time, otherwise abandoned.
- Handle time = talk + wrap-up: wrap-up is 5 s (a quarter of the AHT, if that is shorter), talk is exponential with
  mean `aht_seconds` - wrap-up, so the mean handle time is `aht_seconds`, as AHT is defined everywhere else here.
- The pacer's statistics are the run's own so far: answer rate and dial time of the dials resolved, the mean
  handle time as in `mean_handle_seconds`, and the run's abandon rate as the "actual" one (the run is shorter than
  the real 30-day window). Agents talking have an unknown remaining time; agents wrapping up a known one; ringing
  lines their age.
- At the end, dialing stops and nothing more is answered; callers already waiting get their last seconds to be
  bridged or abandoned.

The figures:
- `occupancy`: talk seconds within the run / (agents x run seconds) — the share of logged-in agent time spent
  talking (wrap-up and waiting excluded);
- `abandon_rate`: abandoned / live answers; `live_answers`, `abandoned`, `calls_placed` (dials placed);
- `talk_minutes_per_agent_hour`: talk minutes per logged-in agent hour (= occupancy x 60).
"""

from __future__ import annotations

import heapq
import random
from collections import OrderedDict
from dataclasses import dataclass

from callcenter.services import pacer

RING_SECONDS = (10.0, 25.0)
AMD_SECONDS = 5.0
WRAP_SECONDS = 5.0
MAX_HOLD_SECONDS = 2.0

# Event kinds, in the order they run when they fall on the same instant (agents free up before lines resolve).
_WRAP_END, _TALK_END, _HOLD_END, _RESOLVE, _TICK = range(5)


@dataclass(frozen=True)
class SimulationResult:
    """The bench's figures; `lines()` is what the command prints."""

    occupancy: float
    abandon_rate: float
    live_answers: int
    abandoned: int
    calls_placed: int
    talk_minutes_per_agent_hour: float

    def lines(self) -> list[str]:
        """The six `name value` lines, in the issue's order and format."""
        return [f"occupancy {self.occupancy:.3f}", f"abandon_rate {self.abandon_rate:.3f}",
                f"live_answers {self.live_answers}", f"abandoned {self.abandoned}",
                f"calls_placed {self.calls_placed}",
                f"talk_minutes_per_agent_hour {self.talk_minutes_per_agent_hour:.1f}"]


@dataclass(frozen=True)
class _Dial:
    ring_seconds: float
    outcome: str  # "live", "machine" or "none"
    talk_seconds: float


def draw_dial(seed: int, index: int, answer_rate: float, machine_rate: float, talk_mean: float) -> _Dial:
    """Dial `index`'s fate, from its own stream: the same in every mode for the same seed."""
    rng = random.Random(f"{seed}:{index}")
    ring = rng.uniform(*RING_SECONDS)
    u = rng.random()
    talk = rng.expovariate(1.0 / talk_mean)
    outcome = "live" if u < answer_rate else "machine" if u < answer_rate + machine_rate else "none"
    return _Dial(ring, outcome, talk)


class _Campaign:
    """The simulation's state and event loop."""

    def __init__(self, mode: str, agents: int, aht_seconds: float, answer_rate: float, machine_rate: float,
                 patience_seconds: float, minutes: float, seed: int) -> None:
        self.mode, self.seed = mode, seed
        self.answer_rate, self.machine_rate = answer_rate, machine_rate
        self.wrap = min(WRAP_SECONDS, aht_seconds / 4)
        self.talk_mean = aht_seconds - self.wrap
        self.hold = min(MAX_HOLD_SECONDS, patience_seconds)
        self.agents = agents
        self.end = minutes * 60.0
        self.events: list[tuple[float, int, int, int]] = []
        self.sequence = 0
        self.idle: OrderedDict[int, None] = OrderedDict((a, None) for a in range(agents))  # longest idle first
        self.wrap_ends: dict[int, float] = {}  # agent wrapping up -> when they are free
        self.talking: dict[int, float] = {}  # agent talking -> the call's talk seconds
        self.busy_since: dict[int, float] = {}  # agent talking or wrapping up -> when the call was bridged
        self.waiting: OrderedDict[int, float] = OrderedDict()  # dial -> its talk seconds, oldest first
        self.ringing: dict[int, float] = {}  # dial ringing (or in machine detection) -> when it was placed
        self.placed: list[tuple[float, _Dial]] = []  # per dial: when placed, its fate
        self.resolved = self.live = self.machines = self.abandoned = 0
        self.dial_seconds = self.handle_seconds = self.talk_seconds = 0.0
        self.handles = 0
        self.closing = False

    def push(self, at: float, kind: int, subject: int) -> None:
        self.sequence += 1
        heapq.heappush(self.events, (at, kind, self.sequence, subject))

    def run(self) -> SimulationResult:
        second = 0
        while second < self.end:
            self.push(float(second), _TICK, 0)
            second += 1
        while self.events:
            at, kind, _, subject = heapq.heappop(self.events)
            if at > self.end and not self.closing:
                self.closing = True
            if self.closing:
                if not self.waiting:
                    break
                if kind in (_RESOLVE, _TICK):
                    continue
            self.handle(at, kind, subject)
        live = self.live
        occupancy = self.talk_seconds / (self.agents * self.end) if self.agents else 0.0
        return SimulationResult(occupancy=occupancy, abandon_rate=self.abandoned / live if live else 0.0,
                                live_answers=live, abandoned=self.abandoned, calls_placed=len(self.placed),
                                talk_minutes_per_agent_hour=occupancy * 60.0)

    def handle(self, now: float, kind: int, subject: int) -> None:
        if kind == _TICK:
            self.pace(now)
        elif kind == _RESOLVE:
            self.resolve(now, subject)
        elif kind == _TALK_END:
            del self.talking[subject]
            self.wrap_ends[subject] = now + self.wrap
            self.push(now + self.wrap, _WRAP_END, subject)
        elif kind == _WRAP_END:
            del self.wrap_ends[subject]
            self.handle_seconds += now - self.busy_since.pop(subject)
            self.handles += 1
            if self.waiting:
                _, talk = self.waiting.popitem(last=False)
                self.bridge(now, subject, talk)
            else:
                self.idle[subject] = None
            if not self.closing:
                self.pace(now)
        elif kind == _HOLD_END and subject in self.waiting:
            del self.waiting[subject]
            self.abandoned += 1

    def resolve(self, now: float, dial_index: int) -> None:
        placed_at, dial = self.placed[dial_index]
        del self.ringing[dial_index]
        self.resolved += 1
        self.dial_seconds += now - placed_at
        if dial.outcome == "machine":
            self.machines += 1
        elif dial.outcome == "live":
            self.live += 1
            if self.idle:
                agent, _ = self.idle.popitem(last=False)
                self.bridge(now, agent, dial.talk_seconds)
            else:
                self.waiting[dial_index] = dial.talk_seconds
                self.push(now + self.hold, _HOLD_END, dial_index)

    def bridge(self, now: float, agent: int, talk: float) -> None:
        self.talking[agent] = talk
        self.busy_since[agent] = now
        self.talk_seconds += max(0.0, min(now + talk, self.end) - now)
        self.push(now + talk, _TALK_END, agent)

    def pace(self, now: float) -> None:
        stats = pacer.DialStats(
            dials=self.resolved, live_answers=self.live, machines=self.machines, abandoned=self.abandoned,
            mean_handle_seconds=self.mean_handle_seconds(now),
            mean_dial_seconds=self.dial_seconds / self.resolved if self.resolved else None)
        busy = tuple([None] * len(self.talking) + [end - now for end in self.wrap_ends.values()])
        decision = pacer.decide(pacer.PacerInputs(
            mode=self.mode, agents_available=len(self.idle), busy_remaining_seconds=busy,
            lines_ringing=len(self.ringing), ringing_seconds=tuple(now - at for at in self.ringing.values()),
            answered_waiting=len(self.waiting), hold_seconds=self.hold, stats=stats,
            actual_abandon_rate=self.abandoned / self.live if self.live else None))
        for _ in range(decision.lines_to_dial):
            self.dial(now)

    def mean_handle_seconds(self, now: float) -> float | None:
        """Handle time so far of every call bridged (finished or not) per finished call: the short calls finish
        first, so the finished ones alone would make the handle time look short at the start of a run."""
        if not self.handles:
            return None
        in_progress = sum(now - since for since in self.busy_since.values())
        return (self.handle_seconds + in_progress) / self.handles

    def dial(self, now: float) -> None:
        index = len(self.placed)
        dial = draw_dial(self.seed, index, self.answer_rate, self.machine_rate, self.talk_mean)
        self.placed.append((now, dial))
        self.ringing[index] = now
        settles = dial.ring_seconds + (AMD_SECONDS if dial.outcome == "machine" else 0.0)
        self.push(now + settles, _RESOLVE, index)


def run_dialer(mode: str, agents: int, aht_seconds: float, answer_rate: float, machine_rate: float,
               patience_seconds: float, minutes: float, seed: int) -> SimulationResult:
    """Simulate `minutes` of a campaign dialing in `mode` (see the module docstring) and return its figures."""
    if mode not in pacer.MODES:
        raise ValueError(f"mode must be one of {pacer.MODES}")
    if agents < 0 or aht_seconds <= 0 or minutes <= 0 or patience_seconds < 0:
        raise ValueError("agents, patience must be ≥ 0; AHT and minutes > 0")
    if answer_rate < 0 or machine_rate < 0 or answer_rate + machine_rate > 1:
        raise ValueError("answer_rate and machine_rate must be ≥ 0 and add up to at most 1")
    return _Campaign(mode, agents, aht_seconds, answer_rate, machine_rate, patience_seconds, minutes, seed).run()
