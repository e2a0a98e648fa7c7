"""Role scope as a matrix: agent / supervisor / admin by own / team / other records."""

from __future__ import annotations

import pytest

from callcenter.services import contacts
from callcenter.services.errors import NotFound


@pytest.fixture
def world(factory):
    """Two teams; each agent owns a contact; one contact was only *handled* (called) by agent north_1."""
    people = {
        "north_agent": factory.user("agent", team="North", username="north_agent"),
        "north_peer": factory.user("agent", team="North", username="north_peer"),
        "south_agent": factory.user("agent", team="South", username="south_agent"),
        "north_super": factory.user("supervisor", team="North", username="north_super"),
        "admin": factory.user("admin", username="root"),
    }
    records = {
        "own": factory.contact(owner_id=people["north_agent"].id),
        "team": factory.contact(owner_id=people["north_peer"].id),
        "other": factory.contact(owner_id=people["south_agent"].id),
        "handled": factory.contact(owner_id=people["south_agent"].id),
        "unowned": factory.contact(owner_id=None),
    }
    factory.call(agent_id=people["north_agent"].id, contact_id=records["handled"].id)
    return people, records


# Which records each viewer may read (everything else reads as "not found").
MATRIX = {
    "north_agent": {"own", "handled"},
    "north_peer": {"team"},
    "south_agent": {"other", "handled"},
    "north_super": {"own", "team", "handled"},
    "admin": {"own", "team", "other", "handled", "unowned"},
}


@pytest.mark.parametrize("viewer", sorted(MATRIX))
def test_contact_visibility_matrix(session, world, viewer):
    people, records = world
    user = people[viewer]
    for name, contact in records.items():
        if name in MATRIX[viewer]:
            assert contacts.get_contact(session, user, contact.id).id == contact.id, f"{viewer} should see {name}"
        else:
            with pytest.raises(NotFound):
                contacts.get_contact(session, user, contact.id)
    found, total = contacts.search_contacts(session, user, "")
    assert {c.id for c in found} == {records[n].id for n in MATRIX[viewer]}
    assert total == len(MATRIX[viewer])


def test_agent_cannot_update_a_contact_outside_scope(session, world):
    people, records = world
    with pytest.raises(NotFound):
        contacts.update_contact(session, people["north_agent"], records["other"].id, {"notes": "x"})
    session.refresh(records["other"])
    assert records["other"].notes == ""


def test_account_visible_through_a_visible_contact(session, world, factory):
    people, records = world
    account = factory.account(owner_id=people["south_agent"].id)
    records["own"].account_id = account.id
    session.commit()

    assert contacts.get_account(session, people["north_agent"], account.id).id == account.id
    with pytest.raises(NotFound):
        contacts.get_account(session, people["north_peer"], account.id)


def test_an_agent_still_sees_the_caller_of_a_call_transferred_away(session, factory):
    from callcenter.models import CallEvent

    first, second = factory.user("agent", username="first"), factory.user("agent", username="second")
    caller = factory.contact(owner_id=None)
    call = factory.call(agent_id=second.id, contact_id=caller.id)
    session.add(CallEvent(call_id=call.id, call_sid=call.call_sid, kind="agent_answered", data={"agent_id": first.id}))
    session.commit()

    assert contacts.get_contact(session, first, caller.id).id == caller.id
    assert contacts.get_contact(session, second, caller.id).id == caller.id
    with pytest.raises(NotFound):
        contacts.get_contact(session, factory.user("agent", username="third"), caller.id)
