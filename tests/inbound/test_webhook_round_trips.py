"""On PostgreSQL a caller's webhooks wait for as few round trips as their writes allow: the transaction's BEGIN and
settings travel with its first statement, and its COMMIT with its last (callcenter.db). Each round trip is a wait
for a turn on a busy web process's event loop; psycopg alone made four for the menu's one insert."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from callcenter.services import acd
from tests.inbound.conftest import NUMBER
from tests.support.servers import wait_until
from tests.support.sql import webhook_round_trips


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_greeting_menu_and_hang_up_take_two_one_and_two_round_trips(app, sim_carrier, redis_client, line,
                                                                    monkeypatch):
    """The second caller's: the first one's webhooks filled the process's caches (the flow, the queues)."""
    _one_call(sim_carrier, redis_client, "+14155550123", monkeypatch)
    # The jobs the suite runs inline expire the call records of the webhook's session (callcenter.jobs), which it
    # then reads again; a worker runs them in its own process. For the hang-up they are only enqueued.
    greeting, menu, hang_up = _one_call(sim_carrier, redis_client, "+14155550124", monkeypatch,
                                        before_hang_up=lambda: monkeypatch.setitem(app.config, "JOBS_INLINE", False))

    assert greeting == 2  # the call's row with BEGIN and settings; the event with COMMIT
    assert menu == 1  # the menu's events: BEGIN, settings, INSERT and COMMIT in one message
    assert hang_up == 2  # the call read with BEGIN; the status event with COMMIT


def _one_call(sim_carrier, redis_client, number: str, monkeypatch,
              before_hang_up: Callable[[], None] = lambda: None) -> list[int]:
    """The round trips of a caller's greeting, menu answer (queued) and hang-up (gone from the queue)."""
    callers = []

    def dial() -> None:
        callers.append(sim_carrier.dial(number, NUMBER))
        callers[0].wait_for_say("For sales")

    greeting = webhook_round_trips(dial, monkeypatch)
    caller = callers[0]
    menu = webhook_round_trips(lambda: (caller.press("1"), wait_until(
        lambda: acd.get_entry(redis_client, caller.sid) is not None, message="caller queued")), monkeypatch)
    before_hang_up()
    hang_up = webhook_round_trips(lambda: (caller.hangup(), wait_until(
        lambda: acd.get_entry(redis_client, caller.sid) is None, message="caller gone")), monkeypatch)
    return [greeting, menu, hang_up]
