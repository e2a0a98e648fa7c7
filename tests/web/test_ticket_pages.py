"""The service desk pages: list with filters and CSV export, quick entry prefilled from a call, and a ticket's
page worked through its forms (status, assignment, priority, note). Structure is read from the HTML's data
attributes, not from its wording."""

from __future__ import annotations

import csv
import io
from html.parser import HTMLParser

import pytest
from sqlalchemy import select

from callcenter.models import Ticket, TicketEvent
from callcenter.services import tickets


class Page(HTMLParser):
    """Rows of the list, timeline kinds, the status buttons and alerts of a desk page."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.rows: list[tuple[int, str]] = []
        self.timeline: list[str] = []
        self.moves: list[str] = []
        self.alerts = 0
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        values = dict(attrs)
        if tag == "tr" and "data-ticket-id" in values:
            self.rows.append((int(values["data-ticket-id"]), values["data-status"]))
        if tag == "li" and "data-kind" in values:
            self.timeline.append(values["data-kind"])
        if tag == "button" and "data-status" in values:
            self.moves.append(values["data-status"])
        if values.get("role") == "alert":
            self.alerts += 1


@pytest.fixture
def north(factory):
    return {"agent": factory.user("agent", team="North", username="north_agent"),
            "peer": factory.user("agent", team="North", username="north_peer"),
            "super": factory.user("supervisor", team="North", username="north_super"),
            "south": factory.user("agent", team="South", username="south_agent")}


def test_list_filters_search_and_csv(client, auth, session, factory, north):
    agent = north["agent"]
    account = factory.account(name="Acme")
    contact = factory.contact(owner_id=agent.id, account_id=account.id)
    router = tickets.create_ticket(session, agent, subject="Router reboots", priority="urgent",
                                   contact_id=contact.id)
    invoice = tickets.create_ticket(session, agent, subject="Invoice", description="=SUM(A1) charged twice")
    tickets.create_ticket(session, north["south"], subject="Not yours")
    auth.login("north_agent")

    page = Page(client.get("/tickets").get_data(as_text=True))
    assert sorted(page.rows) == sorted([(router.id, "new"), (invoice.id, "new")])
    assert Page(client.get("/tickets?priority=urgent").get_data(as_text=True)).rows == [(router.id, "new")]
    assert Page(client.get("/tickets?q=twice").get_data(as_text=True)).rows == [(invoice.id, "new")]
    assert Page(client.get("/tickets?breached=yes").get_data(as_text=True)).rows == []
    assert Page(client.get(f"/tickets?contact_id={contact.id}").get_data(as_text=True)).rows == [(router.id, "new")]
    assert Page(client.get(f"/tickets?account_id={account.id}").get_data(as_text=True)).rows == [(router.id, "new")]
    assert Page(client.get(f"/tickets?assignee={agent.id}&status=new").get_data(as_text=True)).rows != []

    exported = client.get("/tickets.csv?q=invoice")
    assert exported.status_code == 200 and exported.mimetype == "text/csv"
    rows = list(csv.DictReader(io.StringIO(exported.get_data(as_text=True))))
    assert [(int(r["id"]), r["subject"], r["status"], r["breached"]) for r in rows] == [
        (invoice.id, "Invoice", "new", "no")]


def test_quick_entry_from_a_call_links_the_call_and_its_contact(client, auth, session, factory, north):
    agent = north["agent"]
    contact = factory.contact(owner_id=agent.id)
    call = factory.call(agent_id=agent.id, contact_id=contact.id)
    auth.login("north_agent")

    form = client.get(f"/tickets/new?call_sid={call.call_sid}&contact_id={contact.id}")
    assert form.status_code == 200
    assert f'name="call_id" value="{call.id}"' in form.get_data(as_text=True)
    created = client.post("/tickets/new", data={"subject": "Replace router", "priority": "high",
                                                "call_id": str(call.id), "contact_id": str(contact.id)})
    assert created.status_code == 303
    ticket = session.scalar(select(Ticket).where(Ticket.subject == "Replace router"))
    assert (ticket.call_id, ticket.contact_id, ticket.assignee_id) == (call.id, contact.id, agent.id)
    refused = client.post("/tickets/new", data={"subject": " "})
    assert refused.status_code == 422 and Page(refused.get_data(as_text=True)).alerts == 1


def test_a_ticket_is_worked_through_its_page(client, auth, session, north):
    ticket = tickets.create_ticket(session, north["super"], subject="Dispatch me", team_id=north["agent"].team_id,
                                   assignee_id=None)
    auth.login("north_super")
    page = Page(client.get(f"/tickets/{ticket.id}").get_data(as_text=True))
    assert page.moves == ["open", "pending", "resolved"] and page.timeline == ["created"]

    client.post(f"/tickets/{ticket.id}/assign", data={"team_id": str(north["agent"].team_id),
                                                      "assignee_id": str(north["peer"].id)})
    client.post(f"/tickets/{ticket.id}/notes", data={"body": "Peer knows routers"})
    client.post(f"/tickets/{ticket.id}/priority", data={"priority": "urgent"})
    client.post(f"/tickets/{ticket.id}/status", data={"status": "resolved"})
    refused = client.post(f"/tickets/{ticket.id}/status", data={"status": "pending"}, follow_redirects=True)
    assert Page(refused.get_data(as_text=True)).alerts == 1

    session.expire_all()
    done = session.get(Ticket, ticket.id)
    assert (done.status, done.assignee_id, done.priority) == ("resolved", north["peer"].id, "urgent")
    kinds = list(session.scalars(select(TicketEvent.kind).where(TicketEvent.ticket_id == ticket.id)
                                 .order_by(TicketEvent.id)))
    assert kinds == ["created", "assigned", "note", "priority", "status"]
    page = Page(client.get(f"/tickets/{ticket.id}").get_data(as_text=True))
    assert page.moves == ["open", "closed"]
    assert page.timeline[0] == "status" and set(page.timeline) == set(kinds)


def test_another_teams_ticket_is_not_found(client, auth, session, north):
    ticket = tickets.create_ticket(session, north["south"], subject="South's")
    auth.login("north_agent")
    assert client.get(f"/tickets/{ticket.id}").status_code == 404
    client.post(f"/tickets/{ticket.id}/status", data={"status": "open"})
    session.expire_all()
    assert session.get(Ticket, ticket.id).status == "new"
    assert client.get("/tickets", follow_redirects=False).status_code == 200
    client.post("/logout")
    assert client.get("/tickets").status_code == 302
