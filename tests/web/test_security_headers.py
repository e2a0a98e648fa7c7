"""Every response carries a Content-Security-Policy (no inline script, sockets to this server, no framing by
other sites), X-Content-Type-Options and a Referrer-Policy; no page the product serves has an inline script."""

from __future__ import annotations

import re

import pytest

from callcenter.web.security_headers import content_security_policy


def _directives(header: str) -> dict[str, list[str]]:
    return {part.split()[0]: part.split()[1:] for part in header.split(";") if part.strip()}


def _signed_in(app, username: str):
    client = app.test_client()
    assert client.post("/login", data={"username": username, "password": "password123"}).status_code == 302
    return client


@pytest.fixture
def pages(app, factory):
    """(client, path) for every page a person opens: login, console, wallboard, IVR admin, the caller page."""
    factory.user(username="alice")
    factory.user(username="root", role="admin")
    agent, admin = _signed_in(app, "alice"), _signed_in(app, "root")
    return [(app.test_client(), "/login"), (agent, "/console"), (admin, "/wallboard"), (admin, "/admin/ivr/"),
            (admin, "/admin/ivr/new"), (app.test_client(), "/sim/caller")]


def test_every_page_is_served_with_the_policy_and_no_inline_script(pages):
    for client, path in pages:
        response = client.get(path)
        assert response.status_code == 200, path
        policy = _directives(response.headers["Content-Security-Policy"])
        assert policy["script-src"] == ["'self'"], path
        assert policy["frame-ancestors"] == ["'none'"] and policy["object-src"] == ["'none'"], path
        assert "ws://localhost" in policy["connect-src"], path
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["Referrer-Policy"] == "same-origin"
        assert response.headers["X-Frame-Options"] == "DENY"
        html = response.get_data(as_text=True)
        scripts = re.findall(r"<script\b([^>]*)>(.*?)</script>", html, flags=re.S)
        # Every script comes from a file; a JSON data block (the page's messages) is data the browser never runs.
        code = [(attributes, body) for attributes, body in scripts if 'type="application/json"' not in attributes]
        assert all("src=" in attributes and not body.strip() for attributes, body in code), (path, scripts)
        assert not re.search(r"\son[a-z]+\s*=", html), path  # no inline event handlers either


def test_api_and_health_answers_carry_the_headers_too(client):
    for path in ("/healthz", "/api/v1/openapi.json"):
        response = client.get(path)
        assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"], path
        assert response.headers["X-Content-Type-Options"] == "nosniff", path


def test_the_socket_origin_follows_the_public_url_and_twilio_is_reachable_only_with_twilio():
    https = _directives(content_security_policy("https://cc.example.com", twilio=True))
    assert "wss://cc.example.com" in https["connect-src"] and "wss://*.twilio.com" in https["connect-src"]
    local = _directives(content_security_policy("http://127.0.0.1:5000", twilio=False))
    assert local["connect-src"] == ["'self'", "ws://127.0.0.1:5000"]
