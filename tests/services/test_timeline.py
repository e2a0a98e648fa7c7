"""A contact's timeline shows only the calls, notes and callbacks the viewer's role may see."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from callcenter.models import Callback, Disposition, Ticket
from callcenter.services import timeline

NUMBER = "+14155550199"
T0 = datetime(2026, 3, 2, 9, tzinfo=UTC)


@pytest.fixture
def world(session, factory):
    """South's customer calls South; a North agent then puts the customer's number on a contact of their own."""
    people = {
        "north_agent": factory.user("agent", team="North", username="north_agent"),
        "south_agent": factory.user("agent", team="South", username="south_agent"),
        "south_super": factory.user("supervisor", team="South", username="south_super"),
        "admin": factory.user("admin", username="root"),
    }
    south_customer = factory.contact(phones=(NUMBER,), owner_id=people["south_agent"].id)
    planted = factory.contact(phones=(NUMBER,), owner_id=people["north_agent"].id)
    secret = Disposition(code="churn_risk", label="Churn risk")
    session.add(secret)
    session.flush()
    south_call = factory.call(agent_id=people["south_agent"].id, contact_id=south_customer.id, from_number=NUMBER,
                              started_at=T0, notes="South secret: wants to cancel", disposition_id=secret.id)
    # a later call that ended up linked to the planted contact, still taken by South
    linked_call = factory.call(agent_id=people["south_agent"].id, contact_id=planted.id, from_number=NUMBER,
                               started_at=T0 + timedelta(hours=1), notes="South secret 2")
    missed = factory.call(contact_id=planted.id, from_number=NUMBER, started_at=T0 + timedelta(hours=2),
                          status="no-answer")
    own_call = factory.call(agent_id=people["north_agent"].id, to_number=NUMBER, from_number="+18005550100",
                            direction="outbound-dial", started_at=T0 + timedelta(hours=3), notes="North note")
    session.add_all([
        Callback(phone_e164=NUMBER, contact_id=south_customer.id, agent_id=people["south_agent"].id,
                 created_by_id=people["south_agent"].id, requested_at=T0, due_at=T0 + timedelta(days=1),
                 notes="South callback secret"),
        Callback(phone_e164=NUMBER, contact_id=planted.id, agent_id=people["north_agent"].id,
                 created_by_id=people["north_agent"].id, requested_at=T0, due_at=T0 + timedelta(days=2),
                 notes="North callback"),
        Ticket(subject="South ticket secret", contact_id=planted.id, assignee_id=people["south_agent"].id,
               call_id=linked_call.id),
    ])
    session.commit()
    calls = {"south": south_call, "linked": linked_call, "missed": missed, "own": own_call}
    return people, {"south": south_customer, "planted": planted}, calls


def _texts(items):
    return {item.get("text") or item.get("notes") or item.get("subject") or item.get("disposition")
            for item in items} - {None}


def test_a_planted_number_does_not_reveal_another_teams_calls(session, world):
    people, contacts, calls = world
    items = timeline.contact_timeline(session, people["north_agent"], contacts["planted"].id)
    assert {i["id"] for i in items if i["kind"] == "call"} == {calls["own"].id, calls["missed"].id}
    assert _texts(items) == {"North note", "North callback"}
    assert not any("South" in str(value) or value == "Churn risk" for item in items for value in item.values())


def test_the_team_and_admins_still_see_the_whole_history(session, world):
    people, contacts, calls = world
    for viewer in ("south_agent", "south_super"):
        items = timeline.contact_timeline(session, people[viewer], contacts["south"].id)
        assert {i["id"] for i in items if i["kind"] == "call"} == {calls["south"].id, calls["linked"].id}
        assert {"South secret: wants to cancel", "South secret 2", "Churn risk", "South callback secret"} <= \
            _texts(items)
        assert "North note" not in _texts(items) and "North callback" not in _texts(items)
    everything = timeline.contact_timeline(session, people["admin"], contacts["planted"].id)
    assert {i["id"] for i in everything if i["kind"] == "call"} == {c.id for c in calls.values()}
    assert "South ticket secret" in _texts(everything)
