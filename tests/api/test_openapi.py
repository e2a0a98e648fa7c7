"""The OpenAPI document is generated from the code, valid OpenAPI 3, and lists every route the API serves."""

from __future__ import annotations

import re

from openapi_spec_validator import validate

HTTP_METHODS = {"GET", "POST", "PUT", "PATCH", "DELETE"}


def _served_operations(app) -> set[tuple[str, str]]:
    """(OpenAPI path, method) for every URL rule under /api/v1 except the document itself."""
    operations = set()
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/api/v1/") or rule.rule.endswith("/openapi.json"):
            continue
        path = re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule.rule)
        operations.update((path, method.lower()) for method in rule.methods & HTTP_METHODS)
    return operations


def test_openapi_document_is_valid_and_complete(client, app):
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    spec = response.get_json()
    validate(spec)
    assert spec["openapi"].startswith("3.")

    documented = {(path, method) for path, item in spec["paths"].items() for method in item if method in
                  {m.lower() for m in HTTP_METHODS}}
    served = _served_operations(app)
    assert served == documented
    expected = {
        ("/api/v1/csrf-token", "get"),
        ("/api/v1/contacts", "get"), ("/api/v1/contacts", "post"),
        ("/api/v1/contacts/{contact_id}", "get"), ("/api/v1/contacts/{contact_id}", "patch"),
        ("/api/v1/accounts", "get"), ("/api/v1/accounts", "post"),
        ("/api/v1/accounts/{account_id}", "get"), ("/api/v1/accounts/{account_id}", "patch"),
        ("/api/v1/users", "get"), ("/api/v1/users", "post"), ("/api/v1/users/me", "get"),
        ("/api/v1/users/{user_id}", "get"), ("/api/v1/users/{user_id}", "patch"),
        ("/api/v1/users/{user_id}/tokens", "get"), ("/api/v1/users/{user_id}/tokens", "post"),
        ("/api/v1/tokens/{token_id}", "delete"),
    }
    assert expected <= served


def test_openapi_declares_both_auth_methods_and_the_error_shape(client):
    spec = client.get("/api/v1/openapi.json").get_json()
    schemes = spec["components"]["securitySchemes"]
    assert schemes["bearerAuth"] == {**schemes["bearerAuth"], "type": "http", "scheme": "bearer"}
    assert schemes["cookieAuth"]["type"] == "apiKey" and schemes["cookieAuth"]["in"] == "cookie"
    assert spec["security"] == [{"bearerAuth": []}, {"cookieAuth": []}]
    assert spec["paths"]["/api/v1/csrf-token"]["get"]["security"] == []

    error = spec["components"]["schemas"]["Error"]
    assert set(error["properties"]) == {"message", "field", "status", "errors"}
    page = spec["components"]["schemas"]["ContactPage"]
    assert {"items", "total", "page", "per_page"} <= set(page["properties"])
    search = spec["paths"]["/api/v1/contacts"]["get"]["parameters"]
    per_page = next(p for p in search if p["name"] == "per_page")
    assert per_page["schema"]["maximum"] == 100
    contact_post = spec["paths"]["/api/v1/contacts"]["post"]
    assert "requestBody" in contact_post and "201" in contact_post["responses"]


def test_openapi_document_needs_no_login(client):
    assert client.get("/api/v1/openapi.json").status_code == 200
