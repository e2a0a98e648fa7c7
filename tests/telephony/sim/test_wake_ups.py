"""The emulator wakes a waiting call leg for changes that concern it, not for every change of every call.

At a few hundred calls, waking every leg on each change was most of the bench harness's CPU (issue 8); these
check that an unrelated change leaves a leg asleep while a change of its own conference still reaches it.
"""

from __future__ import annotations

from tests.telephony.sim.conftest import CALLER, Sim
from tests.telephony.sim.test_verbs import doc


def _count_wake_ups(call) -> list[int]:
    """Count how often the leg's own condition is notified."""
    count = [0]
    notify_all = call.waker.notify_all

    def counted() -> None:
        count[0] += 1
        notify_all()

    call.waker.notify_all = counted
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
