"""Login: one clear error for a wrong password or an unknown user, throttling, safe redirects, CSRF."""

from __future__ import annotations

import re

import pytest

from callcenter.models import AuditEntry
from callcenter.services.auth import INVALID_CREDENTIALS


def test_agent_signs_in_and_out(client, auth, factory):
    factory.user(username="alice")

    response = auth.login("alice")
    assert response.status_code == 302
    assert client.get("/me").json["username"] == "alice"

    auth.logout()
    assert client.get("/me").status_code == 302  # back to the login page


def test_wrong_password_and_unknown_user_get_the_same_answer(client, auth, factory):
    factory.user(username="alice")

    wrong_password = auth.login("alice", "not-the-password")
    unknown_user = auth.login("nobody", "not-the-password")

    assert wrong_password.status_code == unknown_user.status_code == 401
    assert INVALID_CREDENTIALS.encode() in wrong_password.data
    def page(response, username: bytes) -> bytes:
        # The only per-request difference allowed is the CSRF token.
        return re.sub(rb'(csrf-token" content|csrf_token" type="hidden" value)="[^"]+"', b"", response.data).replace(
            username, b"")

    assert page(wrong_password, b"alice") == page(unknown_user, b"nobody")
    assert client.get("/me").status_code == 302


def test_repeated_failures_are_throttled_even_with_the_right_password(app, auth, factory, session):
    factory.user(username="alice")
    limit = app.config["LOGIN_MAX_FAILURES"]
    for _ in range(limit):
        assert auth.login("alice", "wrong-password").status_code == 401

    locked = auth.login("alice")  # right password, but locked out

    assert locked.status_code == 429
    assert b"Too many failed logins" in locked.data
    failures = session.query(AuditEntry).filter_by(action="login.failed").count()
    assert failures == limit


def test_throttle_applies_to_unknown_usernames_too(app, auth):
    for _ in range(app.config["LOGIN_MAX_FAILURES"]):
        auth.login("ghost", "whatever1")
    assert auth.login("ghost", "whatever1").status_code == 429


def _login_from(client, address: str, username: str, password: str = "password123"):
    return client.post("/login", data={"username": username, "password": password},
                       environ_base={"REMOTE_ADDR": address})


def test_failing_on_purpose_from_elsewhere_does_not_lock_the_user_out(app, client, factory):
    """The back-off is per (username, address): an attacker's failures slow the attacker, not the user."""
    factory.user(username="alice")
    for _ in range(app.config["LOGIN_MAX_FAILURES"]):
        assert _login_from(client, "203.0.113.66", "alice", "wrong-password").status_code == 401
    assert _login_from(client, "203.0.113.66", "alice").status_code == 429
    assert _login_from(client, "198.51.100.7", "alice").status_code == 302


def test_back_off_doubles_with_each_further_failure(app):
    from callcenter.services.auth import LoginThrottle
    from callcenter.services.errors import TooManyAttempts

    throttle = LoginThrottle(app.extensions["callcenter.redis"], max_failures=3, first_backoff_seconds=30)
    waits = []
    for _ in range(6):
        throttle.failed("Alice", "203.0.113.66")
        try:
            throttle.check("alice", "203.0.113.66")
        except TooManyAttempts as exc:
            waits.append(exc.retry_after)
        else:
            waits.append(0)
    assert waits[:2] == [0, 0]
    assert [round(w / 30) for w in waits[2:]] == [1, 2, 4, 8]
    throttle.check("alice", "198.51.100.7")  # another address is not waiting
    throttle.succeeded("alice", "203.0.113.66")
    throttle.check("alice", "203.0.113.66")


def test_failed_login_audit_never_stores_what_was_typed(auth, factory, session):
    alice = factory.user(username="alice")
    auth.login("alice", "wrong-password")
    auth.login("correct horse battery", "x")  # a password typed in the username box
    known, unknown = session.query(AuditEntry).filter_by(action="login.failed").order_by(AuditEntry.id).all()
    assert (known.entity_type, known.entity_id, known.details) == ("User", str(alice.id), {"user_id": alice.id})
    assert unknown.details == {"username": "unknown"} and unknown.entity_id is None
    stored = repr([(e.details, e.entity_id) for e in (known, unknown)])
    assert "correct horse" not in stored and "wrong-password" not in stored


def test_inactive_user_cannot_sign_in(auth, factory, session):
    user = factory.user(username="gone")
    user.active = False
    session.commit()
    assert auth.login("gone").status_code == 401


@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example/x", "javascript:alert(1)"])
def test_next_parameter_cannot_redirect_off_site(client, factory, target):
    factory.user(username="alice")
    response = client.post(f"/login?next={target}", data={"username": "alice", "password": "password123"})
    assert response.status_code == 302
    assert "evil" not in response.headers["Location"] and "javascript" not in response.headers["Location"]


@pytest.fixture
def csrf_on(app_config):
    app_config["WTF_CSRF_ENABLED"] = True


def test_login_form_without_csrf_token_is_refused(csrf_on, client, factory):
    factory.user(username="alice")
    response = client.post("/login", data={"username": "alice", "password": "password123"})
    assert response.status_code == 400
    assert client.get("/me").status_code == 302


def test_passwords_are_stored_with_argon2id(factory):
    user = factory.user()
    assert user.password_hash.startswith("$argon2id$")
    assert "password123" not in user.password_hash


def test_a_hash_made_with_other_costs_is_redone_at_the_next_login(client, auth, factory, session):
    """Passwords hashed with older Argon2 costs (the library's 64 MiB default) move to the current ones."""
    from argon2 import PasswordHasher

    from callcenter.services import auth as auth_service

    user = factory.user(username="olga")
    older = PasswordHasher(time_cost=1, memory_cost=2048, parallelism=2).hash("password123")
    user.password_hash = older
    session.commit()

    assert auth.login("olga").status_code == 302
    assert client.get("/me").json["username"] == "olga"  # the session survives its own login's rehash

    session.refresh(user)
    assert user.password_hash != older
    assert not auth_service._hasher.check_needs_rehash(user.password_hash)
    assert auth_service.verify_password(user.password_hash, "password123")


def test_session_cookie_is_http_only(client, auth, factory):
    factory.user(username="alice")
    auth.login("alice")
    cookie = client.get_cookie("session")
    assert cookie is not None and cookie.http_only


def test_demo_users_are_not_served_on_a_public_host(app_config, request):
    """A demo user (the published password) may not sign in once other machines can reach the server."""
    from callcenter.seed import DEMO_PASSWORD

    app_config.update(HOST="0.0.0.0", TELEPHONY_PROVIDER="sim")
    factory, client = request.getfixturevalue("factory"), request.getfixturevalue("client")
    factory.user(username="alice", password=DEMO_PASSWORD)
    refused = client.post("/login", data={"username": "alice", "password": DEMO_PASSWORD})
    assert refused.status_code == 403
    assert client.get("/me").status_code in (302, 401)
    factory.user(username="real", password="a-real-password")
    assert client.post("/login", data={"username": "real", "password": "a-real-password"}).status_code == 302
