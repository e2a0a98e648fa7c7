"""Coaching is checked before the carrier is touched: role first, then the supervisor's teams."""

from __future__ import annotations

import pytest

from callcenter.services import call_control
from callcenter.services.errors import Conflict, Forbidden, NotFound
from callcenter.services.interactions import conference_name, interaction, set_interaction

SID = "CA" + "5" * 32


class CarrierThatRecords:
    """Stands in for the provider: any request to the carrier is recorded, and it finds the conference."""

    def __init__(self) -> None:
        self.requests: list[str] = []

    def __getattr__(self, name: str):
        def record(*args, **kwargs):
            self.requests.append(name)
            raise AssertionError(f"the carrier was asked {name}")

        return record


@pytest.fixture
def live_call(app, factory):
    r = app.extensions["callcenter.redis"]
    agent = factory.user(team="Billing", username="amy")
    set_interaction(r, SID, conference_name=conference_name(SID), caller_sid=SID, agent_sid="CA" + "6" * 32,
                    agent_id=agent.id)
    return r, agent


@pytest.mark.parametrize("mode", ["listen", "whisper", "barge"])
def test_a_supervisor_of_another_team_cannot_monitor_and_the_carrier_is_never_asked(session, factory, live_call,
                                                                                    mode):
    r, _ = live_call
    other = factory.user(role="supervisor", team="Sales", username="sam")
    carrier = CarrierThatRecords()

    with pytest.raises(NotFound):
        call_control.monitor(session, r, carrier, supervisor=other, call_sid=SID, mode=mode, caller_id="+18005550100")
    with pytest.raises(NotFound):
        call_control.stop_monitoring(session, r, carrier, supervisor=other, call_sid=SID)

    assert carrier.requests == []


def test_an_agent_is_refused_before_anything_is_looked_up(session, factory, live_call):
    r, _ = live_call
    colleague = factory.user(team="Billing", username="ann")
    carrier = CarrierThatRecords()

    for attempt in (lambda: call_control.monitor(session, r, carrier, supervisor=colleague, call_sid=SID,
                                                 mode="listen", caller_id="+18005550100"),
                    lambda: call_control.stop_monitoring(session, r, carrier, supervisor=colleague, call_sid=SID)):
        with pytest.raises(Forbidden):
            attempt()
    assert carrier.requests == []


def test_take_over_is_refused_on_role_team_and_monitoring_before_the_carrier_is_asked(session, factory, live_call):
    r, agent = live_call
    colleague = factory.user(team="Billing", username="abe")
    other = factory.user(role="supervisor", team="Sales", username="sid")
    own = factory.user(role="supervisor", team="Billing", username="stu")
    carrier = CarrierThatRecords()

    with pytest.raises(Forbidden):
        call_control.take_over(session, r, carrier, supervisor=colleague, call_sid=SID)
    with pytest.raises(NotFound):
        call_control.take_over(session, r, carrier, supervisor=other, call_sid=SID)
    with pytest.raises(Conflict):  # their own supervisor, but not listening to the call yet
        call_control.take_over(session, r, carrier, supervisor=own, call_sid=SID)

    assert carrier.requests == []
    assert interaction(r, SID)["agent_id"] == agent.id  # still the agent's call
