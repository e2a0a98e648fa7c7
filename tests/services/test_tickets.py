"""The ticket desk's rules: workflow moves, first response, reopening, assignment, scope, timeline and audit."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from callcenter.models import AuditEntry, Callback, Ticket, TicketEvent
from callcenter.services import tickets
from callcenter.services.errors import Forbidden, NotFound, ValidationFailed
from callcenter.services.tickets import TicketFilters, TicketPolicy

MONDAY_10 = datetime(2026, 11, 30, 10, 0, tzinfo=UTC)  # inside the default calendar (weekdays 08:00-18:00 UTC)


@pytest.fixture
def desk(factory):
    people = {
        "agent": factory.user("agent", team="North", username="north_agent"),
        "peer": factory.user("agent", team="North", username="north_peer"),
        "south": factory.user("agent", team="South", username="south_agent"),
        "super": factory.user("supervisor", team="North", username="north_super"),
        "admin": factory.user("admin", username="root"),
    }
    contact = factory.contact(phones=("+14155550100",), owner_id=people["agent"].id)
    return people, contact


def _ticket(session, actor, contact=None, **values) -> Ticket:
    values.setdefault("now", MONDAY_10)
    return tickets.create_ticket(session, actor, subject=values.pop("subject", "Router reboots"),
                                 contact_id=contact.id if contact else None, **values)


def _kinds(session, ticket) -> list[str]:
    return list(session.scalars(select(TicketEvent.kind).where(TicketEvent.ticket_id == ticket.id)
                                .order_by(TicketEvent.id)))


def test_a_new_ticket_is_new_assigned_to_its_author_with_deadlines_and_a_history(session, desk):
    people, contact = desk
    ticket = _ticket(session, people["agent"], contact, priority="high")

    assert ticket.status == "new"
    assert (ticket.assignee_id, ticket.team_id) == (people["agent"].id, people["agent"].team_id)
    # Built-in high targets: 60 and 600 business minutes, warned at 80 % (480 minutes).
    assert ticket.first_response_due_at == MONDAY_10 + timedelta(minutes=60)
    assert ticket.due_at == datetime(2026, 12, 1, 10, 0, tzinfo=UTC)  # 480 left Monday, 120 more Tuesday
    assert ticket.warn_at == MONDAY_10 + timedelta(minutes=480)
    assert _kinds(session, ticket) == ["created"]
    assert session.scalar(select(AuditEntry).where(AuditEntry.action == "ticket.created")).entity_id == str(ticket.id)


@pytest.mark.parametrize(("path", "refused"), [
    (["open", "pending", "open", "resolved", "closed"], "open"),
    (["resolved", "closed"], "resolved"),
    (["pending", "resolved"], "pending"),
])
def test_workflow_moves_are_allowed_along_the_path_and_refused_off_it(session, desk, path, refused):
    people, contact = desk
    ticket = _ticket(session, people["agent"], contact)
    for status in path:
        tickets.change_status(session, people["agent"], ticket.id, status, now=MONDAY_10)
        assert ticket.status == status
    with pytest.raises(ValidationFailed) as error:
        tickets.change_status(session, people["agent"], ticket.id, refused, now=MONDAY_10)
    assert error.value.field == "status"
    assert ticket.status == path[-1]
    assert _kinds(session, ticket) == ["created"] + ["status"] * len(path)


@pytest.mark.parametrize(("current", "target"), [("new", "closed"), ("new", "new"), ("open", "new"),
                                                 ("open", "closed"), ("pending", "closed"), ("resolved", "pending"),
                                                 ("new", "escalated")])
def test_moves_off_the_workflow_are_refused(session, desk, current, target):
    people, contact = desk
    ticket = _ticket(session, people["agent"], contact)
    ticket.status = current
    session.commit()
    with pytest.raises(ValidationFailed):
        tickets.change_status(session, people["agent"], ticket.id, target)
    session.refresh(ticket)
    assert ticket.status == current


def test_the_first_response_is_the_first_move_out_of_new_or_the_first_note(session, desk):
    people, contact = desk
    noted = _ticket(session, people["agent"], contact)
    moved = _ticket(session, people["agent"], contact)
    later = MONDAY_10 + timedelta(minutes=5)

    tickets.add_note(session, people["agent"], noted.id, "Asked for the router's model", now=later)
    tickets.change_status(session, people["agent"], moved.id, "pending", now=later)
    tickets.change_status(session, people["agent"], moved.id, "open", now=later + timedelta(minutes=9))

    assert noted.first_responded_at == later and noted.status == "new"
    assert moved.first_responded_at == later
    with pytest.raises(ValidationFailed):
        tickets.add_note(session, people["agent"], noted.id, "   ")


def test_a_resolved_ticket_reopens_when_the_contact_comes_back_within_the_window(session, desk):
    people, contact = desk
    policy = TicketPolicy(reopen_days=7)
    recent, old, closed = (_ticket(session, people["agent"], contact) for _ in range(3))
    for ticket, resolved_on in ((recent, MONDAY_10), (old, MONDAY_10 - timedelta(days=8)), (closed, MONDAY_10)):
        tickets.change_status(session, people["agent"], ticket.id, "resolved", now=resolved_on)
    tickets.change_status(session, people["agent"], closed.id, "closed", now=MONDAY_10)
    back = MONDAY_10 + timedelta(days=6, hours=23)

    reopened = tickets.reopen_for_contact(session, contact.id, reason="call", now=back, policy=policy)
    session.commit()

    assert [t.id for t in reopened] == [recent.id]
    assert (recent.status, recent.resolved_at, old.status, closed.status) == ("open", None, "resolved", "closed")
    event = session.scalar(select(TicketEvent).where(TicketEvent.kind == "reopened"))
    assert event.ticket_id == recent.id and event.data["reason"] == "call"
    assert recent.due_at > back  # a fresh SLA clock
    # Once reopened it is no longer resolved: coming back again changes nothing.
    assert tickets.reopen_for_contact(session, contact.id, reason="message", now=back, policy=policy) == []


def test_reopen_window_is_a_setting(session, desk):
    people, contact = desk
    ticket = _ticket(session, people["agent"], contact)
    tickets.change_status(session, people["agent"], ticket.id, "resolved", now=MONDAY_10)
    later = MONDAY_10 + timedelta(days=2)
    assert tickets.reopen_for_contact(session, contact.id, reason="call", now=later,
                                      policy=TicketPolicy(reopen_days=1)) == []
    assert tickets.reopen_for_contact(session, contact.id, reason="call", now=later,
                                      policy=TicketPolicy(reopen_days=3)) == [ticket]


# Who sees which ticket: (assignee, team) of each record.
SCOPE_MATRIX = {
    "agent": {"mine", "team_unassigned"},
    "peer": {"peer", "team_unassigned"},
    "south": {"south"},
    "super": {"mine", "peer", "team_unassigned", "undispatched"},
    "admin": {"mine", "peer", "team_unassigned", "south", "undispatched"},
}


@pytest.mark.parametrize("viewer", sorted(SCOPE_MATRIX))
def test_scope_matrix(session, desk, viewer):
    people, _ = desk
    admin = people["admin"]
    north = people["agent"].team_id
    records = {
        "mine": _ticket(session, admin, team_id=north, assignee_id=people["agent"].id),
        "peer": _ticket(session, admin, team_id=north, assignee_id=people["peer"].id),
        "team_unassigned": _ticket(session, admin, team_id=north),
        "south": _ticket(session, admin, assignee_id=people["south"].id),
        "undispatched": _ticket(session, admin, team_id=None, assignee_id=None),
    }
    records["undispatched"].team_id = records["undispatched"].assignee_id = None
    session.commit()
    user = people[viewer]
    found, total = tickets.search_tickets(session, user, TicketFilters(), limit=None)
    assert {t.id for t in found} == {records[name].id for name in SCOPE_MATRIX[viewer]}
    assert total == len(SCOPE_MATRIX[viewer])
    for name, ticket in records.items():
        if name not in SCOPE_MATRIX[viewer]:
            with pytest.raises(NotFound):
                tickets.get_ticket(session, user, ticket.id)


def test_assignment_rules(session, desk):
    people, _ = desk
    admin, agent, peer, south, sup = (people[k] for k in ("admin", "agent", "peer", "south", "super"))
    ticket = _ticket(session, admin, team_id=agent.team_id)

    # An agent takes an unassigned ticket of their team, and may hand it back; nothing else.
    tickets.assign(session, agent, ticket.id, team_id=agent.team_id, assignee_id=agent.id)
    assert ticket.assignee_id == agent.id
    with pytest.raises(Forbidden):
        tickets.assign(session, agent, ticket.id, team_id=agent.team_id, assignee_id=peer.id)
    with pytest.raises(Forbidden):
        tickets.assign(session, agent, ticket.id, team_id=south.team_id, assignee_id=None)
    # Nobody gives a ticket to someone outside its team.
    with pytest.raises(ValidationFailed):
        tickets.assign(session, admin, ticket.id, team_id=agent.team_id, assignee_id=south.id)
    # A supervisor reassigns within the team, and dispatches to another team (nobody of it yet).
    tickets.assign(session, sup, ticket.id, team_id=agent.team_id, assignee_id=peer.id)
    assert ticket.assignee_id == peer.id
    with pytest.raises(Forbidden):
        tickets.assign(session, sup, ticket.id, team_id=south.team_id, assignee_id=south.id)
    tickets.update_ticket(session, sup, ticket.id, team_id=south.team_id)
    assert (ticket.team_id, ticket.assignee_id) == (south.team_id, None)
    # An admin gives it to anyone; naming only the person brings their team.
    tickets.assign(session, admin, ticket.id, team_id=None, assignee_id=agent.id)
    assert (ticket.team_id, ticket.assignee_id) == (agent.team_id, agent.id)
    assigned = session.scalars(select(TicketEvent).where(TicketEvent.ticket_id == ticket.id,
                                                         TicketEvent.kind == "assigned")).all()
    assert len(assigned) == 4
    assert assigned[-1].data["previous"] == {"team_id": south.team_id, "assignee_id": None}
    assert session.scalar(select(AuditEntry).where(AuditEntry.action == "ticket.assigned")) is not None


def test_priority_change_recomputes_the_deadlines_and_is_recorded(session, desk):
    people, contact = desk
    ticket = _ticket(session, people["agent"], contact, priority="low")
    low_due = ticket.due_at
    tickets.update_ticket(session, people["agent"], ticket.id, priority="urgent", now=MONDAY_10)
    assert ticket.due_at == MONDAY_10 + timedelta(minutes=240) < low_due
    event = session.scalar(select(TicketEvent).where(TicketEvent.kind == "priority"))
    assert event.data == {"from": "low", "to": "urgent"}


def test_filters_and_search(session, desk, factory):
    people, contact = desk
    admin = people["admin"]
    account = factory.account(name="Acme")
    other = factory.contact(account_id=account.id)
    router = _ticket(session, admin, contact, subject="Router reboots", priority="urgent")
    billing = _ticket(session, admin, other, subject="Invoice", description="Charged twice for the ROUTER")
    quiet = _ticket(session, admin, subject="Nothing", priority="low", team_id=people["south"].team_id)

    def ids(**filters) -> set[int]:
        found, _ = tickets.search_tickets(session, admin, TicketFilters(**filters), now=MONDAY_10, limit=None)
        return {t.id for t in found}

    assert ids(q="router") == {router.id, billing.id}
    assert ids(q="50%") == set()
    assert ids(priority="urgent") == {router.id}
    assert ids(contact_id=other.id) == {billing.id}
    assert ids(account_id=account.id) == {billing.id}
    assert ids(team_id=people["south"].team_id) == {quiet.id}
    assert ids(assignee_id=admin.id) == {router.id, billing.id}
    tickets.change_status(session, admin, billing.id, "resolved", now=MONDAY_10)
    assert ids(status="resolved") == {billing.id}
    late = MONDAY_10 + timedelta(hours=5)  # urgent's 240-minute resolution target has passed
    assert ids(breached=True) == set()
    found, _ = tickets.search_tickets(session, admin, TicketFilters(breached=True), now=late, limit=None)
    assert {t.id for t in found} == {router.id}  # the low one has days left; the resolved one has no clock
    found, _ = tickets.search_tickets(session, admin, TicketFilters(breached=False), now=late, limit=None)
    assert {t.id for t in found} == {billing.id, quiet.id}
    with pytest.raises(ValidationFailed):
        tickets.search_tickets(session, admin, TicketFilters(status="escalated"))


def test_timeline_merges_events_calls_and_callbacks_of_the_contact(session, desk, factory):
    people, contact = desk
    agent = people["agent"]
    call = factory.call(agent_id=agent.id, contact_id=contact.id, started_at=MONDAY_10 - timedelta(hours=1))
    ticket = _ticket(session, agent, call_id=call.id)
    assert ticket.contact_id == contact.id and ticket.call_id == call.id
    session.add(Callback(contact_id=contact.id, phone_e164="+14155550100", agent_id=agent.id, created_by_id=agent.id,
                         requested_at=MONDAY_10, due_at=MONDAY_10 + timedelta(days=1), status="scheduled",
                         created_at=MONDAY_10 + timedelta(minutes=1)))
    session.commit()
    tickets.add_note(session, agent, ticket.id, "Sent a replacement", now=MONDAY_10 + timedelta(minutes=2))

    kinds = [item["kind"] for item in tickets.timeline(session, agent, ticket.id)]
    assert kinds == ["note", "callback", "created", "call"]
    # Another team's agent sees neither the ticket nor its timeline.
    with pytest.raises(NotFound):
        tickets.timeline(session, people["south"], ticket.id)


def test_a_ticket_may_only_name_a_contact_the_author_may_see(session, desk, factory):
    people, _ = desk
    hidden = factory.contact(owner_id=people["south"].id)
    with pytest.raises(NotFound):
        _ticket(session, people["agent"], hidden)
    with pytest.raises(ValidationFailed):
        _ticket(session, people["agent"], subject="  ")


def test_wrap_up_opens_a_ticket_with_deadlines_and_reopens_the_contacts_resolved_one(session, desk, factory,
                                                                                   acd_redis):
    from callcenter.models import Disposition
    from callcenter.services import wrapup

    people, contact = desk
    agent = people["agent"]
    session.add(Disposition(code="resolved", label="Resolved"))
    earlier = _ticket(session, agent, contact, subject="Earlier problem")
    tickets.change_status(session, agent, earlier.id, "resolved", now=MONDAY_10)
    call = factory.call(agent_id=agent.id, contact_id=contact.id)
    back = MONDAY_10 + timedelta(days=2)

    result = wrapup.complete(session, acd_redis, agent_id=agent.id, call_sid=call.call_sid, disposition="resolved",
                             ticket=wrapup.TicketRequest(subject="New problem", priority="urgent"), now=back,
                             ticket_policy=TicketPolicy(reopen_days=7))

    opened = result.ticket
    assert (opened.status, opened.assignee_id, opened.team_id) == ("new", agent.id, agent.team_id)
    assert opened.due_at == back + timedelta(minutes=240) and opened.first_response_due_at is not None
    created = session.scalar(select(TicketEvent).where(TicketEvent.ticket_id == opened.id))
    assert (created.kind, created.data["source"], created.data["call_id"]) == ("created", "wrap_up", call.id)
    session.refresh(earlier)
    assert earlier.status == "open"
    reopened = session.scalar(select(TicketEvent).where(TicketEvent.ticket_id == earlier.id,
                                                        TicketEvent.kind == "reopened"))
    assert reopened.data == {"from": "resolved", "to": "open", "reason": "call", "call_id": call.id}


def test_an_agent_of_no_team_opens_tickets_for_themselves(session, factory):
    loner = factory.user("agent")
    ticket = tickets.create_ticket(session, loner, subject="Mine", now=MONDAY_10)
    assert (ticket.team_id, ticket.assignee_id) == (None, loner.id)
    with pytest.raises(Forbidden):
        tickets.assign(session, loner, ticket.id, team_id=None, assignee_id=None)
