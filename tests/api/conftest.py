"""API test helpers: bearer headers for a user, and a JSON client call that returns (status, body)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from callcenter.models import User
from callcenter.services import auth as auth_service


@pytest.fixture
def bearer(session) -> Callable[[User], dict[str, str]]:
    """`bearer(user)` -> headers carrying a fresh API token for that user."""

    def make(user: User) -> dict[str, str]:
        token = auth_service.issue_api_token(session, user, "test", actor_id=None)
        session.commit()
        return {"Authorization": f"Bearer {token}"}

    return make


@pytest.fixture
def admin(factory) -> User:
    return factory.user("admin", team="Operations")


@pytest.fixture
def admin_headers(admin, bearer) -> dict[str, str]:
    return bearer(admin)


def assert_error(response, status: int, field: str | None = None) -> dict[str, Any]:
    """The one error shape, with the expected status and field; returns the body."""
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.is_json, response.get_data(as_text=True)
    body = response.get_json()
    assert set(body) == {"message", "field", "status", "errors"}
    assert body["status"] == status
    assert isinstance(body["message"], str) and body["message"]
    assert body["field"] == field, body
    return body


# TEMPORARY (remove once callcenter.telephony.sim lands): the API does not touch telephony.
@pytest.fixture
def app_config(app_config):
    app_config.update(TELEPHONY_PROVIDER="twilio", TWILIO_ACCOUNT_SID="AC" + "1" * 32, TWILIO_AUTH_TOKEN="x")
    return app_config
