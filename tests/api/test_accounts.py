"""Accounts through the API: create, read, update, search by name, audit."""

from __future__ import annotations

from sqlalchemy import select

from callcenter.models import AuditEntry
from tests.api.conftest import assert_error


def test_account_lifecycle(client, factory, bearer, session):
    agent = factory.user("agent", team="Sales")
    headers = bearer(agent)
    created = client.post("/api/v1/accounts", json={"name": "Initech", "vip": True}, headers=headers)
    assert created.status_code == 201, created.get_json()
    body = created.get_json()
    assert body["name"] == "Initech" and body["vip"] is True and body["owner_id"] == agent.id

    got = client.get(f"/api/v1/accounts/{body['id']}", headers=headers).get_json()
    assert got == body

    patched = client.patch(f"/api/v1/accounts/{body['id']}", json={"name": "Initech Ltd", "vip": False},
                           headers=headers)
    assert patched.status_code == 200
    assert patched.get_json()["name"] == "Initech Ltd" and patched.get_json()["vip"] is False

    actions = session.scalars(
        select(AuditEntry.action).where(AuditEntry.entity_type == "Account", AuditEntry.actor_id == agent.id)
    ).all()
    assert sorted(actions) == ["account.created", "account.updated"]


def test_search_accounts_by_name_with_paging(client, factory, bearer):
    agent = factory.user("agent")
    headers = bearer(agent)
    wanted = [factory.account(f"Acme {i}", owner_id=agent.id) for i in range(3)]
    factory.account("Globex", owner_id=agent.id)
    body = client.get("/api/v1/accounts", query_string={"q": "ACME", "per_page": 2}, headers=headers).get_json()
    assert body["total"] == 3 and [a["id"] for a in body["items"]] == [a.id for a in wanted[:2]]
    assert client.get("/api/v1/accounts", headers=headers).get_json()["total"] == 4


def test_account_errors(client, factory, bearer):
    agent = factory.user("agent")
    headers = bearer(agent)
    account = factory.account("Mine", owner_id=agent.id)
    assert_error(client.post("/api/v1/accounts", json={"name": ""}, headers=headers), 422, "name")
    assert_error(client.post("/api/v1/accounts", json={"name": "x" * 201}, headers=headers), 422, "name")
    assert_error(client.post("/api/v1/accounts", json={"name": "A", "owner_id": 99999}, headers=headers),
                 403, "owner_id")  # an agent gives nothing away, to anyone
    admin_headers = bearer(factory.user("admin"))
    assert_error(client.post("/api/v1/accounts", json={"name": "A", "owner_id": 99999}, headers=admin_headers),
                 422, "owner_id")
    assert_error(client.post("/api/v1/accounts", json={"name": "A", "domain": "a.com"}, headers=headers),
                 422, "domain")
    assert_error(client.patch(f"/api/v1/accounts/{account.id}", json={"name": None}, headers=headers), 422, "name")
    assert_error(client.patch("/api/v1/accounts/999999", json={"vip": True}, headers=headers), 404)
    assert_error(client.get("/api/v1/accounts/999999", headers=headers), 404)
