"""Role scoping through the API: agent / supervisor / admin x own / team / other records."""

from __future__ import annotations

import pytest

from tests.api.conftest import assert_error

# viewer -> which owners' records it sees ("own" = the viewer's, "team" = a teammate's, "other" = another team's)
VISIBLE = {
    "agent": {"own"},
    "supervisor": {"own", "team"},
    "admin": {"own", "team", "other"},
}


@pytest.fixture
def world(factory):
    """Team Sales: the viewer (any role) and a teammate agent; team Support: another agent."""

    def build(viewer_role: str):
        viewer = factory.user(viewer_role, team="Sales")
        owners = {"own": viewer, "team": factory.user("agent", team="Sales"),
                  "other": factory.user("agent", team="Support")}
        contacts = {k: factory.contact(owner_id=u.id, last_name=f"Scoped{k}") for k, u in owners.items()}
        accounts = {k: factory.account(f"Scoped {k}", owner_id=u.id) for k, u in owners.items()}
        return viewer, contacts, accounts

    return build


@pytest.mark.parametrize("role", ["agent", "supervisor", "admin"])
@pytest.mark.parametrize("whose", ["own", "team", "other"])
def test_contact_and_account_visibility(client, bearer, world, role, whose):
    viewer, contacts, accounts = world(role)
    headers = bearer(viewer)
    contact, account = contacts[whose], accounts[whose]
    visible = whose in VISIBLE[role]
    for path in (f"/api/v1/contacts/{contact.id}", f"/api/v1/accounts/{account.id}"):
        response = client.get(path, headers=headers)
        if visible:
            assert response.status_code == 200, (role, whose, path)
        else:
            assert_error(response, 404)
        patched = client.patch(path, json={"vip": True}, headers=headers)
        assert patched.status_code == (200 if visible else 404), (role, whose, path)


@pytest.mark.parametrize("role", ["agent", "supervisor", "admin"])
def test_search_only_returns_visible_records(client, bearer, world, role):
    viewer, contacts, accounts = world(role)
    headers = bearer(viewer)
    found = client.get("/api/v1/contacts", query_string={"q": "scoped"}, headers=headers).get_json()
    assert {c["id"] for c in found["items"]} == {contacts[k].id for k in VISIBLE[role]}
    assert found["total"] == len(VISIBLE[role])
    found = client.get("/api/v1/accounts", query_string={"q": "scoped"}, headers=headers).get_json()
    assert {a["id"] for a in found["items"]} == {accounts[k].id for k in VISIBLE[role]}


def test_a_contact_the_agent_took_a_call_from_is_visible(client, bearer, factory):
    agent = factory.user("agent", team="Sales")
    stranger = factory.user("agent", team="Support")
    contact = factory.contact(owner_id=stranger.id)
    headers = bearer(agent)
    assert_error(client.get(f"/api/v1/contacts/{contact.id}", headers=headers), 404)
    factory.call(agent_id=agent.id, contact_id=contact.id)
    assert client.get(f"/api/v1/contacts/{contact.id}", headers=headers).status_code == 200


def test_an_agent_cannot_take_over_another_teams_account(client, bearer, world):
    """Refs outside scope read as unknown (422), owner changes are for supervisors and admins (403)."""
    viewer, contacts, accounts = world("agent")
    headers = bearer(viewer)
    theirs = accounts["other"]
    assert_error(client.post("/api/v1/contacts", json={"last_name": "Trojan", "account_id": theirs.id},
                             headers=headers), 422, "account_id")
    assert_error(client.patch(f"/api/v1/contacts/{contacts['own'].id}", json={"account_id": theirs.id},
                              headers=headers), 422, "account_id")
    assert_error(client.get(f"/api/v1/accounts/{theirs.id}", headers=headers), 404)
    teammate = contacts["team"].owner_id
    assert_error(client.post("/api/v1/contacts", json={"last_name": "Gift", "owner_id": teammate},
                             headers=headers), 403, "owner_id")
    assert_error(client.patch(f"/api/v1/accounts/{accounts['own'].id}", json={"owner_id": teammate},
                              headers=headers), 403, "owner_id")


def test_a_supervisor_moves_owners_inside_the_team_only(client, bearer, world):
    viewer, contacts, accounts = world("supervisor")
    headers = bearer(viewer)
    teammate, stranger = contacts["team"].owner_id, contacts["other"].owner_id
    moved = client.patch(f"/api/v1/contacts/{contacts['own'].id}", json={"owner_id": teammate}, headers=headers)
    assert moved.status_code == 200 and moved.get_json()["owner_id"] == teammate
    assert_error(client.patch(f"/api/v1/accounts/{accounts['team'].id}", json={"owner_id": stranger},
                              headers=headers), 422, "owner_id")
