"""The emulator wakes a waiting call leg for changes that concern it, not for every change of every call.

At a few hundred calls, waking every leg on each change was most of the bench harness's CPU (issue 8), and
waking every far end watching a call (the bench's callers) most of the rest; these check that an unrelated change
leaves a leg and a watching far end asleep, while a change of their own call or conference still reaches them.
"""

from __future__ import annotations

import threading

from tests.support.servers import wait_until
from tests.telephony.sim.conftest import CALLER, Sim
from tests.telephony.sim.test_verbs import doc


def _count_wake_ups(call, condition: str = "waker") -> list[int]:
    """Count how often one of the call's conditions (its leg's `waker`, its far end's `watchers`) is notified."""
    count = [0]
    notify_all = getattr(call, condition).notify_all

    def counted() -> None:
        count[0] += 1
        notify_all()

    getattr(call, condition).notify_all = counted
    return count


def test_a_change_in_one_conference_does_not_wake_a_leg_in_another(sim: Sim) -> None:
    sim.server.route("/room-a", doc("<Dial><Conference>room-a</Conference></Dial>"))
    sim.server.route("/room-b", doc("<Dial><Conference>room-b</Conference></Dial>"))
    joined = lambda e: e["type"] == "conference" and e["event"] == "joined"  # noqa: E731
    alone = sim.carrier.dial(CALLER, sim.number("/room-b"))
    alone.wait_for(joined)
    first = sim.carrier.dial("+14155550101", sim.number("/room-a"))
    first.wait_for(joined)
    alone_wakes = _count_wake_ups(sim.carrier.calls[alone.sid])
    first_wakes = _count_wake_ups(sim.carrier.calls[first.sid])

    second = sim.carrier.dial("+14155550102", sim.number("/room-a"))
    second.wait_for(joined)
    second.hangup()
    second.wait_for("ended")

    assert first_wakes[0] >= 2  # its conference changed: the second caller joined, then left
    assert alone_wakes[0] == 0
    assert [p.call.sid for p in sim.carrier.conference("room-a").active()] == [first.sid]

    alone.hangup()
    alone.wait_for("ended")
    first.hangup()
    first.wait_for("ended")
    assert sim.carrier.conference("room-b").status == "completed"


def test_a_far_end_waiting_on_its_call_is_not_woken_by_other_calls(sim: Sim) -> None:
    """The bench's callers wait on their own calls (CallHandle.wait_for): another call's whole life, its webhooks,
    events and conference, must not wake them (each of them was woken at every change of any call)."""
    sim.server.route("/room-a", doc("<Dial><Conference>room-a</Conference></Dial>"))
    sim.server.route("/room-b", doc("<Dial><Conference>room-b</Conference></Dial>"))
    joined = lambda e: e["type"] == "conference" and e["event"] == "joined"  # noqa: E731
    alone = sim.carrier.dial(CALLER, sim.number("/room-b"))
    alone.wait_for(joined)
    watched = sim.carrier.calls[alone.sid]
    wake_ups = _count_wake_ups(watched, "watchers")
    outcome: list[dict] = []
    watcher = threading.Thread(target=lambda: outcome.append(alone.wait_for("ended", timeout=30)))
    watcher.start()
    wait_until(lambda: watched in sim.carrier._watched, message="the far end watching its call")

    other = sim.carrier.dial("+14155550101", sim.number("/room-a"))
    other.wait_for(joined)
    other.hangup()
    other.wait_for("ended")

    assert wake_ups[0] == 0
    assert outcome == []
    alone.hangup()
    watcher.join(timeout=10)
    assert outcome and outcome[0]["type"] == "ended"
    assert wake_ups[0] >= 1  # its own end did wake it
