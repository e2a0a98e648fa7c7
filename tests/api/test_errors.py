"""Bad input never crashes the API: every failure is a 4xx in the one JSON error shape."""

from __future__ import annotations

import pytest

from tests.api.conftest import assert_error


@pytest.fixture
def agent(factory):
    return factory.user("agent", team="Sales")


@pytest.fixture
def headers(agent, bearer):
    return bearer(agent)


def test_malformed_json_is_400(client, headers):
    response = client.post(
        "/api/v1/contacts", data="{not json", headers={**headers, "Content-Type": "application/json"}
    )
    body = assert_error(response, 400)
    assert "JSON" in body["message"]


def test_non_utf8_json_is_400(client, headers):
    response = client.post(
        "/api/v1/contacts", data=b"\xff\xfe\x00garbage", headers={**headers, "Content-Type": "application/json"}
    )
    assert_error(response, 400)


def test_non_json_body_is_415(client, headers):
    response = client.post("/api/v1/contacts", data="first_name=Ada", headers=headers,
                           content_type="application/x-www-form-urlencoded")
    body = assert_error(response, 415)
    assert "application/json" in body["message"]


@pytest.mark.parametrize("payload", ["null", "[1, 2]", '"a string"', "42"])
def test_body_that_is_not_an_object_is_422(client, headers, payload):
    response = client.post("/api/v1/contacts", data=payload, content_type="application/json", headers=headers)
    body = assert_error(response, 422)
    assert "object" in body["message"]


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"first_name": 12}, "first_name"),
        ({"first_name": "Ada", "vip": "very"}, "vip"),
        # a JSON boolean only, as documented (schemathesis found 0, 1, "yes" taken as booleans)
        ({"first_name": "Ada", "vip": 1}, "vip"),
        ({"first_name": "Ada", "vip": "true"}, "vip"),
        ({"first_name": "Ada", "account_id": "abc"}, "account_id"),
        ({"first_name": "Ada", "phones": "4155550100"}, "phones"),
        ({"first_name": "Ada", "phones": [{"label": "work"}]}, "phones.0.number"),
        ({"first_name": "Ada", "phones": [{"number": 4155550100}]}, "phones.0.number"),
        ({"first_name": "Ada", "shoe_size": 44}, "shoe_size"),
        ({"first_name": "Ada", "phones": [{"number": "4155550100", "fax": True}]}, "phones.0.fax"),
        ({"first_name": "x" * 101}, "first_name"),
        ({"first_name": "Ada", "email": "not-an-email"}, "email"),
        ({"first_name": "Ada", "email": "a@"}, "email"),
        ({"first_name": "Ada", "time_zone": "Mars/Olympus"}, "time_zone"),
        ({"first_name": "Ada", "account_id": 2**40}, "account_id"),
        ({"first_name": "Ada", "account_id": 0}, "account_id"),
    ],
)
def test_invalid_fields_are_422_naming_the_field(client, headers, payload, field):
    body = assert_error(client.post("/api/v1/contacts", json=payload, headers=headers), 422, field)
    assert field in body["message"]
    assert field in body["errors"]


def test_invalid_phone_number_is_422_from_the_service(client, headers):
    response = client.post(
        "/api/v1/contacts",
        json={"first_name": "Ada", "phones": [{"number": "+1 415-555-0100"}, {"number": "call me maybe"}]},
        headers=headers,
    )
    body = assert_error(response, 422, "phones.1.number")
    assert "call me maybe" in body["message"]
    assert body["errors"] == {"phones.1.number": [body["message"]]}


def test_nonexistent_account_is_422(client, headers):
    response = client.post("/api/v1/contacts", json={"first_name": "Ada", "account_id": 4242}, headers=headers)
    body = assert_error(response, 422, "account_id")
    assert "4242" in body["message"]


def test_nonexistent_owner_is_422(client, factory, agent, bearer):
    contact = factory.contact(owner_id=agent.id)
    supervisor = bearer(factory.user("supervisor", team="Sales"))  # agents may not change owners at all (403)
    response = client.patch(f"/api/v1/contacts/{contact.id}", json={"owner_id": 4242}, headers=supervisor)
    assert_error(response, 422, "owner_id")


def test_empty_contact_is_422(client, headers):
    assert_error(client.post("/api/v1/contacts", json={}, headers=headers), 422, "last_name")


def test_missing_required_field_is_422(client, headers):
    body = assert_error(client.post("/api/v1/accounts", json={"vip": True}, headers=headers), 422, "name")
    assert "Missing data" in body["message"]


def test_null_for_a_required_column_is_422(client, headers, factory, agent):
    contact = factory.contact(owner_id=agent.id)
    assert_error(client.patch(f"/api/v1/contacts/{contact.id}", json={"first_name": None}, headers=headers),
                 422, "first_name")


@pytest.mark.parametrize("query", ["page=0", "page=abc", "per_page=0", "per_page=1000", "q=" + "x" * 201])
def test_bad_query_parameters_are_422(client, headers, query):
    field = query.split("=")[0]
    assert_error(client.get(f"/api/v1/contacts?{query}", headers=headers), 422, field)


def test_unknown_route_under_api_is_json_404(client, headers):
    body = assert_error(client.get("/api/v1/no-such-thing", headers=headers), 404)
    assert body["message"]
    assert_error(client.get("/api/v1/contacts/not-a-number", headers=headers), 404)
    assert_error(client.get("/api/v1", headers=headers), 404)


def test_unknown_route_outside_api_stays_html(client):
    response = client.get("/no-such-page")
    assert response.status_code == 404
    assert response.mimetype == "text/html"


def test_wrong_method_is_json_405_with_allow(client, headers):
    response = client.delete("/api/v1/contacts", headers=headers)
    body = assert_error(response, 405)
    assert body["message"]
    assert set(response.headers["Allow"].replace(" ", "").split(",")) >= {"GET", "POST"}


def test_huge_id_in_path_is_404_not_a_crash(client, headers):
    assert_error(client.get(f"/api/v1/contacts/{2**63}", headers=headers), 404)
    assert_error(client.get(f"/api/v1/accounts/{2**31}", headers=headers), 404)


def test_patch_with_form_body_is_415(client, headers, factory, agent):
    contact = factory.contact(owner_id=agent.id)
    response = client.patch(f"/api/v1/contacts/{contact.id}", data={"vip": "true"}, headers=headers)
    assert_error(response, 415)


def test_a_crash_is_a_json_500_without_details(client, headers, app, monkeypatch):
    """Not bad input (that is always 4xx), but if the code fails the client still gets the one shape."""
    from callcenter.services import contacts as contact_service

    def broken(*args, **kwargs):
        raise RuntimeError("secret internals")

    monkeypatch.setattr(contact_service, "search_contacts", broken)
    app.config["PROPAGATE_EXCEPTIONS"] = False
    body = assert_error(client.get("/api/v1/contacts", headers=headers), 500)
    assert "secret" not in body["message"]
