"""API tokens: admins issue (the secret shows once), list and revoke them; all of it audited."""

from __future__ import annotations

from sqlalchemy import select

from callcenter.models import ApiToken, AuditEntry
from tests.api.conftest import assert_error


def test_admin_issues_token_that_works_once_shown(client, admin, admin_headers, factory, session):
    user = factory.user("agent")
    response = client.post(f"/api/v1/users/{user.id}/tokens", json={"name": "crm-sync"}, headers=admin_headers)
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert body["token"].startswith("cc_") and body["user_id"] == user.id and body["name"] == "crm-sync"
    assert body["revoked_at"] is None

    me = client.get("/api/v1/users/me", headers={"Authorization": f"Bearer {body['token']}"})
    assert me.get_json()["id"] == user.id

    listed = client.get(f"/api/v1/users/{user.id}/tokens", headers=admin_headers).get_json()
    assert [t["id"] for t in listed] == [body["id"]]
    assert "token" not in listed[0] and "token_hash" not in listed[0]
    assert listed[0]["last_used_at"] is not None

    stored = session.get(ApiToken, body["id"])
    assert body["token"] not in stored.token_hash
    entry = session.scalar(
        select(AuditEntry).where(AuditEntry.action == "api_token.issued", AuditEntry.entity_id == str(user.id))
    )
    assert entry.actor_id == admin.id and entry.details["name"] == "crm-sync"


def test_revoke_token(client, admin, admin_headers, factory, session):
    user = factory.user("agent")
    issued = client.post(f"/api/v1/users/{user.id}/tokens", json={"name": "old"}, headers=admin_headers).get_json()
    headers = {"Authorization": f"Bearer {issued['token']}"}
    assert client.get("/api/v1/users/me", headers=headers).status_code == 200

    response = client.delete(f"/api/v1/tokens/{issued['id']}", headers=admin_headers)
    assert response.status_code == 204 and response.get_data() == b""
    assert_error(client.get("/api/v1/users/me", headers=headers), 401)
    # revoking again is harmless and not audited twice
    assert client.delete(f"/api/v1/tokens/{issued['id']}", headers=admin_headers).status_code == 204
    entries = session.scalars(select(AuditEntry).where(AuditEntry.action == "api_token.revoked")).all()
    assert len(entries) == 1
    assert entries[0].actor_id == admin.id and entries[0].details["user_id"] == user.id
    assert entries[0].details["before"] == {"revoked_at": None} and entries[0].details["after"]["revoked_at"]
    listed = client.get(f"/api/v1/users/{user.id}/tokens", headers=admin_headers).get_json()
    assert listed[0]["revoked_at"] is not None


def test_token_errors(client, admin_headers, factory, session):
    user = factory.user("agent")
    assert_error(client.post(f"/api/v1/users/{user.id}/tokens", json={}, headers=admin_headers), 422, "name")
    assert_error(client.post(f"/api/v1/users/{user.id}/tokens", json={"name": "  "}, headers=admin_headers),
                 422, "name")
    assert_error(client.post("/api/v1/users/999999/tokens", json={"name": "x"}, headers=admin_headers), 404)
    assert_error(client.get("/api/v1/users/999999/tokens", headers=admin_headers), 404)
    assert_error(client.delete("/api/v1/tokens/999999", headers=admin_headers), 404)
    user.active = False
    session.commit()
    assert_error(client.post(f"/api/v1/users/{user.id}/tokens", json={"name": "x"}, headers=admin_headers),
                 422, "user_id")


def test_only_admins_handle_tokens(client, factory, bearer, admin_headers):
    supervisor = factory.user("supervisor", team="Sales")
    agent = factory.user("agent", team="Sales")
    issued = client.post(f"/api/v1/users/{agent.id}/tokens", json={"name": "x"}, headers=admin_headers).get_json()
    for actor in (supervisor, agent):
        headers = bearer(actor)
        assert_error(client.post(f"/api/v1/users/{agent.id}/tokens", json={"name": "mine"}, headers=headers), 403)
        assert_error(client.get(f"/api/v1/users/{agent.id}/tokens", headers=headers), 403)
        assert_error(client.delete(f"/api/v1/tokens/{issued['id']}", headers=headers), 403)
