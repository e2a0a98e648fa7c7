"""Users through the API: admins create and change them; everyone reads within their scope."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from callcenter.models import AuditEntry, User
from callcenter.redis_conn import get_redis
from callcenter.services import acd, agent_state
from callcenter.services.auth import get_or_create_skill
from tests.api.conftest import assert_error


def test_admin_creates_user_and_it_is_audited(client, admin, admin_headers, session, auth):
    response = client.post(
        "/api/v1/users",
        json={
            "username": "newagent",
            "password": "correct horse battery",
            "full_name": "New Agent",
            "email": "new@example.com",
            "role": "agent",
            "team": "Billing",
            "skills": {"spanish": 7, "billing": 4},
        },
        headers=admin_headers,
    )
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert "password" not in body and "password_hash" not in body
    assert body["team"] == "Billing" and body["skills"] == {"spanish": 7, "billing": 4} and body["active"] is True
    entry = session.scalar(
        select(AuditEntry).where(AuditEntry.action == "user.created", AuditEntry.entity_id == str(body["id"]))
    )
    assert entry.actor_id == admin.id and entry.details["role"] == "agent"
    assert entry.details["after"]["team"] == "Billing" and "password" not in str(entry.details)
    # the new user can sign in with that password
    assert auth.login("newagent", "correct horse battery").status_code == 302


def test_create_user_errors(client, admin_headers, factory):
    factory.user("agent", username="taken")
    assert_error(client.post("/api/v1/users", json={"username": "Taken", "password": "longenough"},
                             headers=admin_headers), 409, "username")
    assert_error(client.post("/api/v1/users", json={"username": "x", "password": "short"},
                             headers=admin_headers), 422, "password")
    assert_error(client.post("/api/v1/users", json={"username": "x", "password": "longenough", "role": "boss"},
                             headers=admin_headers), 422, "role")
    assert_error(client.post("/api/v1/users", json={"password": "longenough"}, headers=admin_headers),
                 422, "username")
    assert_error(client.post("/api/v1/users", json={"username": "   ", "password": "longenough"},
                             headers=admin_headers), 422, "username")
    assert_error(client.post("/api/v1/users", json={"username": "x", "password": "longenough",
                                                    "skills": {"french": 11}}, headers=admin_headers),
                 422, "skills.french.value")


@pytest.mark.parametrize("role", ["agent", "supervisor"])
def test_only_admins_manage_users(client, factory, bearer, role):
    actor = factory.user(role, team="Sales")
    target = factory.user("agent", team="Sales")
    headers = bearer(actor)
    assert_error(client.post("/api/v1/users", json={"username": "x", "password": "longenough"}, headers=headers),
                 403)
    assert_error(client.patch(f"/api/v1/users/{target.id}", json={"active": False}, headers=headers), 403)
    assert_error(client.patch(f"/api/v1/users/{actor.id}", json={"role": "admin"}, headers=headers), 403)


def test_admin_updates_user_and_it_is_audited(client, admin, admin_headers, factory, session):
    user = factory.user("agent", team="Sales", skills={"english": 5, "billing": 2})
    response = client.patch(
        f"/api/v1/users/{user.id}",
        json={"role": "supervisor", "team": "Support", "skills": {"english": 9, "german": 3}, "full_name": "Sam"},
        headers=admin_headers,
    )
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["role"] == "supervisor" and body["team"] == "Support" and body["full_name"] == "Sam"
    assert body["skills"] == {"english": 9, "german": 3}
    entry = session.scalar(select(AuditEntry).where(AuditEntry.action == "user.updated"))
    assert entry.actor_id == admin.id and entry.entity_id == str(user.id)
    assert entry.details["fields"] == ["full_name", "role", "skills", "team"]


def test_deactivating_a_user_locks_them_out(client, admin_headers, factory, bearer, session):
    user = factory.user("agent")
    headers = bearer(user)
    response = client.patch(f"/api/v1/users/{user.id}", json={"active": False}, headers=admin_headers)
    assert response.status_code == 200 and response.get_json()["active"] is False
    assert_error(client.get("/api/v1/users/me", headers=headers), 401)


def test_password_change_is_audited_without_the_password(client, admin_headers, factory, session, auth):
    user = factory.user("agent")
    response = client.patch(f"/api/v1/users/{user.id}", json={"password": "a brand new one"}, headers=admin_headers)
    assert response.status_code == 200
    entry = session.scalar(select(AuditEntry).where(AuditEntry.action == "user.updated"))
    assert entry.details == {"fields": ["password"]}
    assert auth.login(user.username, "a brand new one").status_code == 302


def test_admin_cannot_lock_themselves_out(client, admin, admin_headers):
    assert_error(client.patch(f"/api/v1/users/{admin.id}", json={"active": False}, headers=admin_headers),
                 422, "active")
    assert_error(client.patch(f"/api/v1/users/{admin.id}", json={"role": "agent"}, headers=admin_headers),
                 422, "role")


def test_update_user_errors(client, admin_headers, factory):
    user = factory.user("agent")
    assert_error(client.patch("/api/v1/users/999999", json={"active": False}, headers=admin_headers), 404)
    assert_error(client.patch(f"/api/v1/users/{user.id}", json={"username": "renamed"}, headers=admin_headers),
                 422, "username")
    assert_error(client.patch(f"/api/v1/users/{user.id}", json={"active": "maybe"}, headers=admin_headers),
                 422, "active")
    assert_error(client.patch(f"/api/v1/users/{user.id}", json={"email": "nope"}, headers=admin_headers),
                 422, "email")


def test_me(client, factory, bearer):
    user = factory.user("agent", team="Sales", skills={"english": 6})
    body = client.get("/api/v1/users/me", headers=bearer(user)).get_json()
    assert body["id"] == user.id and body["skills"] == {"english": 6} and body["team"] == "Sales"


class TestUserScope:
    """Admins see everyone, supervisors their team, agents themselves."""

    @pytest.fixture
    def people(self, factory, admin) -> dict[str, User]:
        return {
            "admin": admin,
            "supervisor": factory.user("supervisor", team="Sales"),
            "agent": factory.user("agent", team="Sales"),
            "teammate": factory.user("agent", team="Sales"),
            "outsider": factory.user("agent", team="Support"),
        }

    @pytest.mark.parametrize(
        ("viewer", "visible"),
        [
            ("admin", {"admin", "supervisor", "agent", "teammate", "outsider"}),
            ("supervisor", {"supervisor", "agent", "teammate"}),
            ("agent", {"agent"}),
        ],
    )
    def test_list_and_get_within_scope(self, client, bearer, people, viewer, visible):
        headers = bearer(people[viewer])
        listed = client.get("/api/v1/users", headers=headers).get_json()
        assert {item["id"] for item in listed["items"]} == {people[name].id for name in visible}
        assert listed["total"] == len(visible)
        for name, user in people.items():
            response = client.get(f"/api/v1/users/{user.id}", headers=headers)
            assert response.status_code == (200 if name in visible else 404), (viewer, name)

    def test_search_users(self, client, admin_headers, people):
        body = client.get("/api/v1/users", query_string={"q": people["outsider"].username},
                          headers=admin_headers).get_json()
        assert [u["id"] for u in body["items"]] == [people["outsider"].id]


def test_a_skill_edit_reaches_the_logged_in_agents_routing_at_once(client, admin_headers, factory, session, app):
    r = get_redis(app)
    user = factory.user("agent", skills={"english": 5})
    session.commit()
    agent_state.login(session, r, user.id, now=1_800_000_000.0)

    response = client.patch(f"/api/v1/users/{user.id}", json={"skills": {"english": 5, "german": 6}},
                            headers=admin_headers)

    assert response.status_code == 200, response.get_json()
    german = get_or_create_skill(session, "german").id
    assert agent_state.get_presence(r, user.id).skills[german] == 6
    assert acd.available_with_skill(r, german, 6) == [user.id]


def test_a_taken_non_ascii_username_is_a_409_and_its_owner_signs_in(client, admin_headers, auth):
    """Found by tests/api/test_schema_fuzz.py: SQL lower() folds ASCII only (SQLite; PostgreSQL under the C locale),
    so the check for a taken name missed "Ärger" twice and the insert hit the unique index (a 500); and a user so
    named could never sign in."""
    new = {"username": "Ärger", "password": "correct horse battery"}
    assert client.post("/api/v1/users", json=new, headers=admin_headers).status_code == 201
    assert_error(client.post("/api/v1/users", json=new, headers=admin_headers), 409, "username")
    assert auth.login("Ärger", "correct horse battery").status_code == 302
