"""Tickets and service agreements through the API: create, list with filters, patch the workflow, notes, events,
scope, and the error shape for refused input."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from callcenter.models import AuditEntry
from tests.api.conftest import assert_error

GOLD = {"urgent": {"first_response": 15, "resolution": 60}, "high": {"first_response": 30, "resolution": 120},
        "normal": {"first_response": 60, "resolution": 480}, "low": {"first_response": 120, "resolution": 960}}


@pytest.fixture
def people(factory):
    return {"agent": factory.user("agent", team="North"), "peer": factory.user("agent", team="North"),
            "south": factory.user("agent", team="South"), "super": factory.user("supervisor", team="North")}


def test_an_agent_opens_works_and_resolves_a_ticket(client, bearer, people, factory, session):
    agent = people["agent"]
    headers = bearer(agent)
    contact = factory.contact(owner_id=agent.id)
    created = client.post("/api/v1/tickets", json={"subject": "Router reboots", "priority": "high",
                                                   "contact_id": contact.id}, headers=headers)
    assert created.status_code == 201, created.get_json()
    body = created.get_json()
    assert (body["status"], body["assignee_id"], body["team_id"]) == ("new", agent.id, agent.team_id)
    assert body["due_at"] and body["first_response_due_at"] and body["breached"] is False
    ticket_id = body["id"]

    note = client.post(f"/api/v1/tickets/{ticket_id}/notes", json={"body": "Asked for the model"}, headers=headers)
    assert note.status_code == 201 and note.get_json()["kind"] == "note"
    for status in ("open", "resolved"):
        moved = client.patch(f"/api/v1/tickets/{ticket_id}", json={"status": status}, headers=headers)
        assert moved.status_code == 200, moved.get_json()
    assert moved.get_json()["resolved_at"]
    refused = client.patch(f"/api/v1/tickets/{ticket_id}", json={"status": "pending"}, headers=headers)
    assert_error(refused, 422, "status")

    events = client.get(f"/api/v1/tickets/{ticket_id}/events", headers=headers).get_json()
    assert [e["kind"] for e in events] == ["created", "note", "status", "status"]
    assert events[2]["data"] == {"from": "new", "to": "open"}
    assert session.scalar(select(AuditEntry).where(AuditEntry.action == "ticket.note")).actor_id == agent.id


def test_list_filters_and_scope(client, bearer, people, admin_headers):
    north = people["agent"].team_id
    for subject, extra in (("Printer on fire", {"priority": "urgent"}), ("Invoice wrong", {}),
                           ("South only", {"assignee_id": people["south"].id})):
        response = client.post("/api/v1/tickets", json={"subject": subject, "team_id": north, **extra}
                               if "assignee_id" not in extra else {"subject": subject, **extra},
                               headers=admin_headers)
        assert response.status_code == 201, response.get_json()

    def subjects(headers, query="") -> list[str]:
        response = client.get(f"/api/v1/tickets{query}", headers=headers)
        assert response.status_code == 200, response.get_json()
        return sorted(item["subject"] for item in response.get_json()["items"])

    agent = bearer(people["agent"])
    assert subjects(agent) == ["Invoice wrong", "Printer on fire"]  # unassigned in their team
    assert subjects(bearer(people["south"])) == ["South only"]
    assert subjects(agent, "?priority=urgent") == ["Printer on fire"]
    assert subjects(agent, "?q=INVOICE") == ["Invoice wrong"]
    assert subjects(admin_headers, "?unassigned=true") == ["Invoice wrong", "Printer on fire"]
    assert subjects(admin_headers, f"?assignee_id={people['south'].id}") == ["South only"]
    assert subjects(admin_headers, "?breached=true") == []
    assert_error(client.get("/api/v1/tickets?status=escalated", headers=agent), 422, "status")


def test_assignment_through_patch(client, bearer, people, admin_headers):
    north = people["agent"].team_id
    ticket = client.post("/api/v1/tickets", json={"subject": "Dispatch me", "team_id": north},
                         headers=admin_headers).get_json()
    supervisor = bearer(people["super"])
    given = client.patch(f"/api/v1/tickets/{ticket['id']}", json={"assignee_id": people["peer"].id},
                         headers=supervisor)
    assert given.status_code == 200 and given.get_json()["assignee"]["id"] == people["peer"].id
    # Someone of another team: refused, whoever asks.
    assert_error(client.patch(f"/api/v1/tickets/{ticket['id']}", json={"assignee_id": people["south"].id},
                              headers=admin_headers), 422, "assignee_id")
    # The agent it left no longer sees it.
    assert_error(client.get(f"/api/v1/tickets/{ticket['id']}", headers=bearer(people["agent"])), 404, "ticket_id")
    assert_error(client.patch(f"/api/v1/tickets/{ticket['id']}", json={"assignee_id": people["agent"].id},
                              headers=bearer(people["peer"])), 403, "assignee_id")


def test_service_agreements_set_the_deadlines_of_an_accounts_tickets(client, bearer, people, admin_headers):
    created = client.post("/api/v1/service-agreements", json={"name": "Gold", "targets": GOLD},
                          headers=admin_headers)
    assert created.status_code == 201, created.get_json()
    gold = created.get_json()
    assert gold["targets"] == GOLD
    assert_error(client.post("/api/v1/service-agreements", json={"name": "gold", "targets": GOLD},
                             headers=admin_headers), 409, "name")
    assert_error(client.post("/api/v1/service-agreements", json={"name": "Tin", "targets": GOLD},
                             headers=bearer(people["super"])), 403, None)
    backwards = {**GOLD, "low": {"first_response": 500, "resolution": 100}}
    assert_error(client.post("/api/v1/service-agreements", json={"name": "Odd", "targets": backwards},
                             headers=admin_headers), 422, "targets.low.first_response")
    assert [a["name"] for a in client.get("/api/v1/service-agreements",
                                          headers=bearer(people["agent"])).get_json()] == ["Gold"]

    account = client.post("/api/v1/accounts", json={"name": "Acme", "service_agreement_id": gold["id"]},
                          headers=admin_headers)
    assert account.status_code == 201 and account.get_json()["service_agreement_id"] == gold["id"]
    assert_error(client.patch(f"/api/v1/accounts/{account.get_json()['id']}",
                              json={"service_agreement_id": 999}, headers=admin_headers), 422,
                 "service_agreement_id")
    gold_ticket = client.post("/api/v1/tickets", json={"subject": "Gold", "account_id": account.get_json()["id"],
                                                       "team_id": people["agent"].team_id, "priority": "urgent"},
                              headers=admin_headers).get_json()
    plain_ticket = client.post("/api/v1/tickets", json={"subject": "Plain", "team_id": people["agent"].team_id,
                                                        "priority": "urgent"}, headers=admin_headers).get_json()
    # Gold's urgent tickets are due an hour of business time after opening; the default tier's after four.
    assert gold_ticket["due_at"] < plain_ticket["due_at"]


def test_refused_input_is_a_4xx_with_a_message(client, admin_headers, people):
    assert_error(client.post("/api/v1/tickets", json={"subject": ""}, headers=admin_headers), 422, "subject")
    assert_error(client.post("/api/v1/tickets", json={"subject": "x", "contact_id": 12345}, headers=admin_headers),
                 404, "contact_id")
    assert_error(client.post("/api/v1/tickets", json={"subject": "x", "due_at": "2001-01-01T00:00:00+00:00"},
                             headers=admin_headers), 422, "due_at")
    assert_error(client.post("/api/v1/tickets", json={"subject": "x", "due_at": "0001-01-01T00:00:00+05:00"},
                             headers=admin_headers), 422, "due_at")
    assert_error(client.post("/api/v1/tickets/1/notes", json={"body": "x"}, headers=admin_headers), 404,
                 "ticket_id")
    assert_error(client.patch("/api/v1/tickets/1", json={"team_id": None}, headers=admin_headers), 404, "ticket_id")
