"""Walk every route the app serves: a new route is covered the day it is added, not when someone remembers.

- every /ivr/* route refuses a request without a valid carrier signature (403);
- every /api/v1 route refuses an anonymous request (401);
- every admin and supervisor page refuses an agent (403);
- every other route needs a signed-in user, unless it is listed in PUBLIC below with the reason it is open.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from flask import Flask
from werkzeug.exceptions import HTTPException
from werkzeug.routing import Rule
from werkzeug.routing.converters import NumberConverter

from callcenter.api.errors import API_PREFIX

# endpoint -> why anyone may call it without signing in
PUBLIC = {
    "auth.login": "the sign-in page itself",
    "auth.index": "only redirects: to /login, or to a signed-in user's home page",
    "health.healthz": "load balancers and monitors; says ok/degraded per component only (details need an admin)",
    "health.ping": "the benchmark's bare yardstick: 204, no data, no session",
    "static": "static files, no data",
    "agent_ui.static": "the console's scripts and styles, no data",
    "agent_ui.favicon": "browsers ask for it on every page",
    "sim_pages.static": "the emulator's scripts (softphone shim, caller page), no data",
    "sim_pages.caller_page": "the emulator's caller page, open only while the server is reachable from this machine "
                             "alone (tests/telephony/sim cover the refusal off loopback)",
    "sim_pages.texts": "the texts the emulator's phones received, open exactly when the caller page is (the same "
                       "check; tests/telephony/sim/test_socket_access.py covers the refusal off loopback)",
    "sim_rest.recording_media": "the emulator's recording files are public like Twilio's media URLs (the "
                                "recording SID is the secret); nothing but a silent WAV",
    "api_session.csrf_token": "a CSRF token is only useful with its own session cookie",
    "api-docs.openapi_json": "the API's published contract",
    "callbacks.request_callback": "the public call-me-back request: books a callback only, uses no session, "
                                 "rate-limited per client address and per number",
    "callbacks.request_form": "the embeddable call-me-back form: no data of anyone's",
}
# The emulator's stand-in for Twilio's REST API authenticates like Twilio: HTTP basic auth (account SID, token).
CARRIER_BASIC_AUTH = "sim_rest."
STAFF_PAGES = ("/admin/", "/wallboard", "/staffing", "/audit", "/campaigns")
SID = "CA" + "1" * 32


def _serves(adapter, rule: Rule, url: str) -> bool:
    try:
        return adapter.match(url, method=next(iter(rule.methods - {"HEAD", "OPTIONS"}), "GET"))[0] == rule.endpoint
    except HTTPException:
        return False


def _routes(app: Flask) -> Iterator[tuple[Rule, str, str]]:
    """(rule, method, concrete URL) for every route and method the app serves."""
    adapter = app.url_map.bind("localhost")
    for rule in app.url_map.iter_rules():
        values = {name: 1 if isinstance(rule._converters[name], NumberConverter) else SID for name in rule.arguments}
        url = adapter.build(rule.endpoint, values, force_external=False)
        if rule.arguments and not _serves(adapter, rule, url):  # a string converter with a maxlength: a short value
            values = {name: 1 if value == 1 else "x" for name, value in values.items()}
            url = adapter.build(rule.endpoint, values, force_external=False)
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            yield rule, method, url


def _call(client, method: str, url: str):
    if method == "GET":
        return client.get(url)
    if url.startswith(API_PREFIX):
        return client.open(url, method=method, json={})
    return client.open(url, method=method, data={"CallSid": "CA" + "1" * 32})


@pytest.fixture
def csrf_on(app_config):
    """As in production: the CSRF check is on, and must not be what refuses these requests."""
    app_config["WTF_CSRF_ENABLED"] = True


def test_the_walk_sees_every_kind_of_route(app):
    urls = {url for _, _, url in _routes(app)}
    assert any(u.startswith("/ivr/") for u in urls) and any(u.startswith(API_PREFIX) for u in urls)
    assert any(u.startswith("/admin/") for u in urls)
    assert set(PUBLIC) <= set(app.view_functions), set(PUBLIC) - set(app.view_functions)


def test_every_ivr_route_refuses_an_unsigned_request(app, client):
    checked = 0
    for _rule, method, url in _routes(app):
        if url.startswith("/ivr/"):
            response = _call(client, method, url)
            assert response.status_code == 403, (method, url, response.status_code)
            checked += 1
    assert checked >= 10


def test_every_api_route_refuses_an_anonymous_request(csrf_on, app, client):
    checked = 0
    for rule, method, url in _routes(app):
        if url.startswith(API_PREFIX) and rule.endpoint not in PUBLIC:
            response = _call(client, method, url)
            assert response.status_code == 401, (method, url, response.status_code)
            assert response.is_json and response.get_json()["status"] == 401
            checked += 1
    assert checked >= 25


def test_every_admin_and_supervisor_page_refuses_an_agent(app, client, auth, factory):
    factory.user(username="alice")
    auth.login("alice")
    checked = 0
    for _rule, method, url in _routes(app):
        if url.startswith(STAFF_PAGES):
            response = _call(client, method, url)
            assert response.status_code == 403, (method, url, response.status_code)
            checked += 1
    assert checked >= 8


def test_every_other_route_needs_a_signed_in_user_unless_listed_as_public(app, client):
    """CSRF is off here (as in the test config): a CSRF refusal would hide a route that forgot its login check."""
    for rule, method, url in _routes(app):
        if url.startswith(("/ivr/", API_PREFIX)) or rule.endpoint in PUBLIC:
            continue
        response = _call(client, method, url)
        if rule.endpoint.startswith(CARRIER_BASIC_AUTH):
            assert response.status_code == 401, (method, url, response.status_code)
            continue
        location = response.headers.get("Location", "")
        assert response.status_code in (401, 403) or (response.status_code == 302 and "/login" in location), (
            f"{method} {url} answers {response.status_code} to anyone: protect it, or add it to PUBLIC with why")
