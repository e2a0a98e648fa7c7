"""Input PostgreSQL refuses (NUL characters, lone surrogates, strings longer than their column, numbers out of
range) is a 4xx naming the field, on both backends, and nothing is written: login, search, every string field of
the API's request bodies and query strings, and forms."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from sqlalchemy import func, select

from callcenter.models import AuditEntry, Contact, IvrFlow
from callcenter.services import contacts
from callcenter.services.errors import ValidationFailed
from tests.api.conftest import assert_error

NUL = "Ada\x00Lovelace"
SURROGATE_JSON = '"Ada\\ud800"'  # valid JSON, but no UTF-8 form exists for it


def _rows(session, model) -> int:
    session.expire_all()
    return session.scalar(select(func.count()).select_from(model))


def test_login_with_a_nul_is_a_400_and_nothing_is_audited(client, factory, session):
    factory.user(username="alice")
    response = client.post("/login", data={"username": "ali\x00ce", "password": "password123"})
    assert response.status_code == 400 and "NUL" in response.get_data(as_text=True)
    assert _rows(session, AuditEntry) == 1  # user.created only: no login.failed row


def test_search_with_a_nul_is_a_400(client, admin_headers):
    body = assert_error(client.get("/api/v1/contacts?q=a%00b", headers=admin_headers), 400, "q")
    assert "NUL" in body["message"]


def test_a_nul_in_a_body_field_is_a_400_and_nothing_is_written(client, admin_headers, session):
    response = client.post("/api/v1/contacts", json={"first_name": NUL}, headers=admin_headers)
    assert_error(response, 400, "first_name")
    nested = client.post("/api/v1/contacts", json={"first_name": "Ada", "phones": [{"number": "+14155550100",
                                                                                      "label": "wo\x00rk"}]},
                         headers=admin_headers)
    assert_error(nested, 400, "phones.0.label")
    assert _rows(session, Contact) == 0


def test_a_lone_surrogate_is_a_400(client, admin_headers, session):
    response = client.post("/api/v1/contacts", data='{"first_name": ' + SURROGATE_JSON + "}",
                           content_type="application/json", headers=admin_headers)
    body = assert_error(response, 400, "first_name")
    assert "Unicode" in body["message"]
    assert _rows(session, Contact) == 0


def test_a_value_longer_than_its_column_is_refused_before_the_flush(session, factory):
    """Whatever the path (here a service, no schema in front), the flush check names the field; SQLite would have
    stored it and PostgreSQL raised a DataError."""
    agent = factory.user()
    with pytest.raises(ValidationFailed) as refused:
        contacts.create_contact(session, agent, {"first_name": "Ada", "time_zone": None, "language": "x" * 17}, [])
    assert refused.value.field == "language" and "at most 16" in refused.value.message
    session.rollback()
    assert _rows(session, Contact) == 0


def test_an_integer_out_of_its_column_range_is_refused(session, factory):
    contact = factory.contact()
    contact.owner_id = 2**31
    with pytest.raises(ValidationFailed) as refused:
        session.commit()
    assert refused.value.field == "owner_id"
    session.rollback()


def test_a_nul_in_the_ivr_flow_form_is_a_400(app, client, factory, session):
    factory.user(username="root", role="admin")
    client.post("/login", data={"username": "root", "password": "password123"})
    before = _rows(session, IvrFlow)
    response = client.post("/admin/ivr/new", data={"format": "yaml", "definition": "name: Main\x00"})
    assert response.status_code == 400
    assert _rows(session, IvrFlow) == before


# ---- every string the API accepts, walked from its own OpenAPI document ----


def _string_fields(schema: dict[str, Any], spec: dict[str, Any]) -> list[str]:
    if "$ref" in schema:
        schema = spec["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return [name for name, prop in (schema.get("properties") or {}).items()
            if prop.get("type") == "string" and not prop.get("readOnly")]


def _operations(client) -> list[tuple[str, str, str, list[str]]]:
    """(method, concrete path, 'json' | 'query', string field names) for every operation taking strings."""
    spec = client.get("/api/v1/openapi.json").get_json()
    found = []
    for template, item in spec["paths"].items():
        path = re.sub(r"\{[^}]+\}", lambda m: "CA" + "1" * 32 if "sid" in m.group(0) else "1", template)
        for method, operation in item.items():
            if method not in ("get", "post", "put", "patch", "delete"):
                continue
            query = [p["name"] for p in operation.get("parameters", [])
                     if p["in"] == "query" and p.get("schema", {}).get("type") == "string"]
            if query:
                found.append((method, "/api/v1" + path.removeprefix("/api/v1"), "query", query))
            body = operation.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema")
            if body:
                names = _string_fields(body, spec)
                if names:
                    found.append((method, "/api/v1" + path.removeprefix("/api/v1"), "json", names))
    return found


def test_every_string_field_of_the_api_refuses_a_nul_and_a_surrogate_with_a_4xx(client, admin_headers):
    operations = _operations(client)
    assert len(operations) >= 8, operations  # the walk found the API's writes and searches
    for method, path, where, names in operations:
        for name in names:
            if where == "query":  # invalid UTF-8 in a URL is decoded with U+FFFD, which is storable: NUL only
                response = client.open(f"{path}?{name}=a%00b", method=method.upper(), headers=admin_headers)
                assert 400 <= response.status_code < 500, (method, path, name, response.get_data(as_text=True))
                continue
            for raw in ('"a\\u0000b"', SURROGATE_JSON):
                response = client.open(path, method=method.upper(), data="{" + json.dumps(name) + ": " + raw + "}",
                                       content_type="application/json", headers=admin_headers)
                assert 400 <= response.status_code < 500, (method, path, name, raw, response.get_data(as_text=True))
