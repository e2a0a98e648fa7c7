"""Authentication: session cookie or bearer token; 401 JSON otherwise; CSRF header for cookie writes."""

from __future__ import annotations

import re

import pytest

from tests.api.conftest import assert_error
from tests.support.factories import DEFAULT_PASSWORD


def test_no_credentials_is_json_401(client):
    for method, path in [("get", "/api/v1/contacts"), ("post", "/api/v1/contacts"), ("get", "/api/v1/users/me"),
                         ("get", "/api/v1/accounts/1"), ("delete", "/api/v1/tokens/1")]:
        response = getattr(client, method)(path)
        body = assert_error(response, 401)
        assert "Bearer" in body["message"]


def test_invalid_token_is_401(client):
    body = assert_error(client.get("/api/v1/users/me", headers={"Authorization": "Bearer cc_nope"}), 401)
    assert body["message"] == "Invalid or revoked API token"


def test_bearer_token_authenticates(client, factory, bearer):
    user = factory.user("agent")
    response = client.get("/api/v1/users/me", headers=bearer(user))
    assert response.status_code == 200
    assert response.get_json()["username"] == user.username


def test_session_cookie_authenticates(client, factory, auth):
    user = factory.user("supervisor", team="Support")
    auth.login(user.username)
    body = client.get("/api/v1/users/me").get_json()
    assert body["id"] == user.id and body["role"] == "supervisor" and body["team"] == "Support"
    # with CSRF off (the test default) a session write goes through
    created = client.post("/api/v1/contacts", json={"last_name": "Session"})
    assert created.status_code == 201
    auth.logout()
    assert_error(client.get("/api/v1/users/me"), 401)


def test_token_of_deactivated_user_stops_working(client, factory, bearer, session):
    user = factory.user("agent")
    headers = bearer(user)
    assert client.get("/api/v1/users/me", headers=headers).status_code == 200
    user = session.merge(user)
    user.active = False
    session.commit()
    assert_error(client.get("/api/v1/users/me", headers=headers), 401)


def test_a_bad_token_is_refused_even_with_a_valid_session(client, factory, auth):
    user = factory.user("agent")
    auth.login(user.username)
    assert client.get("/api/v1/users/me").status_code == 200
    assert_error(client.get("/api/v1/users/me", headers={"Authorization": "Bearer cc_forged"}), 401)


def test_a_token_of_another_user_is_refused_with_a_session(client, factory, auth, bearer):
    user, other = factory.user("agent"), factory.user("agent")
    auth.login(user.username)
    assert_error(client.get("/api/v1/users/me", headers=bearer(other)), 401)
    # the user's own token alongside the session is fine
    assert client.get("/api/v1/users/me", headers=bearer(user)).get_json()["id"] == user.id


class TestCsrfForSessions:
    """With CSRF on (production), cookie-authenticated writes need the X-CSRFToken header; tokens do not."""

    @pytest.fixture
    def app_config(self, app_config):
        app_config["WTF_CSRF_ENABLED"] = True
        return app_config

    @pytest.fixture
    def csrf_token(self, client, factory):
        """Sign in through the login form with its CSRF token; return the session's token for the API."""
        user = factory.user("agent", username="csrf-agent")
        token = client.get("/api/v1/csrf-token").get_json()["csrf_token"]
        page = client.get("/login").get_data(as_text=True)
        assert re.search(r'name="csrf_token"', page)
        response = client.post(
            "/login", data={"username": user.username, "password": DEFAULT_PASSWORD, "csrf_token": token}
        )
        assert response.status_code == 302, response.get_data(as_text=True)
        return client.get("/api/v1/csrf-token").get_json()["csrf_token"]

    def test_session_write_without_header_is_refused(self, client, csrf_token):
        assert client.get("/api/v1/users/me").status_code == 200  # reads need no token
        body = assert_error(client.post("/api/v1/contacts", json={"last_name": "NoToken"}), 400)
        assert "CSRF" in body["message"]
        assert_error(client.post("/api/v1/contacts", json={"last_name": "Bad"}, headers={"X-CSRFToken": "x"}), 400)

    def test_session_write_with_header_is_accepted(self, client, csrf_token):
        response = client.post("/api/v1/contacts", json={"last_name": "WithToken"}, headers={"X-CSRFToken": csrf_token})
        assert response.status_code == 201, response.get_json()
        contact_id = response.get_json()["id"]
        patched = client.patch(
            f"/api/v1/contacts/{contact_id}", json={"vip": True}, headers={"X-CSRFToken": csrf_token}
        )
        assert patched.status_code == 200

    def test_bearer_write_needs_no_csrf_header(self, client, factory, bearer):
        user = factory.user("agent")
        response = client.post("/api/v1/contacts", json={"last_name": "ByToken"}, headers=bearer(user))
        assert response.status_code == 201, response.get_json()
