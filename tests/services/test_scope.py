"""Role scope as a matrix: agent / supervisor / admin by own / team / other records."""

from __future__ import annotations

import pytest
from sqlalchemy import select, text

from callcenter.models import Call, Contact
from callcenter.services import contacts, scope
from callcenter.services.errors import Forbidden, NotFound, ValidationFailed


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


# ---- references and owners: a write may only point inside the writer's scope ----

def test_an_agent_cannot_point_a_contact_at_another_teams_account(session, world, factory):
    """The takeover: link an own contact to any account id, then read (and edit) it through that contact."""
    people, records = world
    theirs = factory.account("South Secret", owner_id=people["south_agent"].id)
    agent = people["north_agent"]
    with pytest.raises(ValidationFailed) as created:
        contacts.create_contact(session, agent, {"last_name": "Trojan", "account_id": theirs.id}, [])
    assert created.value.field == "account_id"
    with pytest.raises(ValidationFailed) as updated:
        contacts.update_contact(session, agent, records["own"].id, {"account_id": theirs.id})
    assert updated.value.field == "account_id"
    session.expire_all()
    assert records["own"].account_id is None
    with pytest.raises(NotFound):
        contacts.get_account(session, agent, theirs.id)
    # an account the agent may see is still a valid reference
    mine = factory.account("North Own", owner_id=agent.id)
    linked = contacts.update_contact(session, agent, records["own"].id, {"account_id": mine.id})
    assert linked.account_id == mine.id


def test_only_supervisors_and_admins_change_owners(session, world, factory):
    people, records = world
    agent, supervisor, admin = people["north_agent"], people["north_super"], people["admin"]
    for attempt in (
        lambda: contacts.create_contact(session, agent, {"last_name": "X", "owner_id": people["north_peer"].id}, []),
        lambda: contacts.update_contact(session, agent, records["own"].id, {"owner_id": people["north_peer"].id}),
        lambda: contacts.update_contact(session, agent, records["handled"].id, {"owner_id": agent.id}),
        lambda: contacts.create_account(session, agent, {"name": "Y", "owner_id": people["south_agent"].id}),
    ):
        with pytest.raises(Forbidden) as refused:
            attempt()
        assert refused.value.field == "owner_id"
    session.expire_all()
    assert (records["own"].owner_id, records["handled"].owner_id) == (agent.id, people["south_agent"].id)
    # naming yourself, or the owner already there, is not a change
    assert contacts.create_contact(session, agent, {"last_name": "Mine", "owner_id": agent.id}, []).owner_id == agent.id
    assert contacts.update_contact(session, agent, records["own"].id, {"owner_id": agent.id}).owner_id == agent.id

    moved = contacts.update_contact(session, supervisor, records["own"].id, {"owner_id": people["north_peer"].id})
    assert moved.owner_id == people["north_peer"].id
    with pytest.raises(ValidationFailed) as outside:
        contacts.update_contact(session, supervisor, records["team"].id, {"owner_id": people["south_agent"].id})
    assert outside.value.field == "owner_id"
    assert contacts.update_contact(session, admin, records["other"].id, {"owner_id": agent.id}).owner_id == agent.id


def test_an_account_read_through_a_contact_is_not_the_agents_to_change(session, world, factory):
    people, records = world
    account = factory.account("South Co", owner_id=people["south_agent"].id)
    records["own"].account_id = account.id
    session.commit()
    agent = people["north_agent"]
    assert contacts.get_account(session, agent, account.id).id == account.id
    for values in ({"name": "Renamed"}, {"owner_id": agent.id}):
        with pytest.raises((Forbidden, NotFound)):
            contacts.update_account(session, agent, account.id, values)
    session.expire_all()
    assert (account.name, account.owner_id) == ("South Co", people["south_agent"].id)
    mine = factory.account("North Co", owner_id=agent.id)
    assert contacts.update_account(session, agent, mine.id, {"name": "North Co 2"}).name == "North Co 2"
    with pytest.raises(Forbidden):
        contacts.update_account(session, agent, mine.id, {"owner_id": people["north_peer"].id})


def _plan(session, statement) -> str:
    """The database's plan for `statement` (PostgreSQL told to use any index it can, as on a large table)."""
    compiled = statement.compile(session.get_bind(), compile_kwargs={"literal_binds": True})
    if session.get_bind().dialect.name == "sqlite":
        return "\n".join(row[-1] for row in session.execute(text(f"EXPLAIN QUERY PLAN {compiled}")))
    session.execute(text("SET LOCAL enable_seqscan = off"))
    return "\n".join(row[0] for row in session.execute(text(f"EXPLAIN {compiled}")))


def test_the_call_scope_reads_only_the_events_of_the_calls_it_checks(session, world):
    """An agent's scope includes the calls whose events name them (offered, answered). Read as `calls.id IN (every
    such event)`, each check went through all the offer and answer events ever recorded: the screen-pop's history
    took 53 ms at 100,000 events. The events are found by their call instead."""
    people, _records = world
    statement = select(Call.id).where(Call.call_sid == "CA-a-caller", scope.calls(people["north_agent"]))
    plan = _plan(session, statement)
    assert "call_events" in plan
    if session.get_bind().dialect.name == "sqlite":
        assert "SCAN call_events" not in plan
        assert "SEARCH call_events USING INDEX ix_call_events_call_id (call_id=?)" in plan
    else:
        assert "Index Cond: (call_id = calls.id)" in plan


def test_the_contact_scope_reads_only_the_calls_and_events_of_the_contacts_it_checks(session, world):
    """An agent also sees the contacts of calls offered to or answered by them. That is read through the contact's
    own calls and their own events, not through every call of the people and every event naming them."""
    people, records = world
    statement = select(Contact.id).where(Contact.id == records["handled"].id, scope.contacts(people["north_agent"]))
    plan = _plan(session, statement)
    if session.get_bind().dialect.name == "sqlite":
        assert "SCAN call_events" not in plan and "SCAN calls" not in plan
        assert "SEARCH calls USING INDEX ix_calls_contact_id (contact_id=?)" in plan
        assert "SEARCH call_events USING INDEX ix_call_events_call_id (call_id=?)" in plan
    else:
        assert "Index Cond: (contact_id = contacts.id)" in plan
        assert "Index Cond: (call_id = calls.id)" in plan
    # And it still answers as the matrix says: the agent who handled the call sees its contact.
    assert session.scalar(statement) == records["handled"].id
