"""Contacts through the API: create, read, update, search (by any number format), paging, audit."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from callcenter.models import AuditEntry
from tests.api.conftest import assert_error


@pytest.fixture
def agent(factory):
    return factory.user("agent", team="Sales")


@pytest.fixture
def headers(agent, bearer):
    return bearer(agent)


def test_create_contact_normalises_phones_and_is_owned_by_caller(client, headers, agent, session):
    response = client.post(
        "/api/v1/contacts",
        json={
            "first_name": "Ada",
            "last_name": "Lovelace",
            "email": "Ada@Example.com",
            "phones": [{"number": "(415) 555-0100", "label": "work"}, {"number": "+44 20 7946 0958"}],
        },
        headers=headers,
    )
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert body["display_name"] == "Ada Lovelace"
    assert body["email"] == "ada@example.com"
    assert body["owner_id"] == agent.id
    assert body["phones"] == [
        {"e164": "+14155550100", "raw": "(415) 555-0100", "label": "work", "display": "+1 415-555-0100"},
        {"e164": "+442079460958", "raw": "+44 20 7946 0958", "label": "mobile", "display": "+44 20 7946 0958"},
    ]
    entry = session.scalar(select(AuditEntry).where(AuditEntry.action == "contact.created"))
    assert entry.actor_id == agent.id and entry.entity_id == str(body["id"])


def test_get_and_patch_contact(client, headers, factory, agent):
    account = factory.account("Analytical Engines", owner_id=agent.id)
    contact = factory.contact(phones=("+14155550100",), owner_id=agent.id)
    got = client.get(f"/api/v1/contacts/{contact.id}", headers=headers)
    assert got.status_code == 200
    assert got.get_json()["phones"][0]["e164"] == "+14155550100"

    patched = client.patch(
        f"/api/v1/contacts/{contact.id}",
        json={"account_id": account.id, "vip": True, "phones": [{"number": "415.555.0199", "label": "home"}]},
        headers=headers,
    )
    assert patched.status_code == 200, patched.get_json()
    body = patched.get_json()
    assert body["vip"] is True
    assert body["account"] == {"id": account.id, "name": "Analytical Engines"}
    assert [p["e164"] for p in body["phones"]] == ["+14155550199"]
    assert body["first_name"] == contact.first_name  # untouched fields stay

    again = client.get(f"/api/v1/contacts/{contact.id}", headers=headers).get_json()
    assert again["account_id"] == account.id and again["phones"][0]["label"] == "home"


def test_patch_without_phones_keeps_them(client, headers, factory, agent):
    contact = factory.contact(phones=("+14155550100", "+14155550101"), owner_id=agent.id)
    response = client.patch(f"/api/v1/contacts/{contact.id}", json={"notes": "prefers mornings"}, headers=headers)
    assert response.status_code == 200
    assert [p["e164"] for p in response.get_json()["phones"]] == ["+14155550100", "+14155550101"]
    assert response.get_json()["notes"] == "prefers mornings"


@pytest.mark.parametrize("typed", ["(415) 555-0100", "+1 415-555-0100", "4155550100", "001 415 555 0100"])
def test_search_finds_contact_by_any_number_format(client, headers, factory, agent, typed):
    wanted = factory.contact(phones=("+14155550100",), owner_id=agent.id)
    factory.contact(phones=("+14155550111",), owner_id=agent.id)
    response = client.get("/api/v1/contacts", query_string={"q": typed}, headers=headers)
    assert response.status_code == 200
    body = response.get_json()
    assert [c["id"] for c in body["items"]] == [wanted.id]
    assert body["total"] == 1


def test_search_finds_contact_by_second_number(client, headers, factory, agent):
    wanted = factory.contact(phones=("+14155550100", "+12125550123"), owner_id=agent.id)
    factory.contact(phones=("+14155550100",), owner_id=None)  # same first number, not visible to the agent
    body = client.get("/api/v1/contacts", query_string={"q": "(212) 555-0123"}, headers=headers).get_json()
    assert [c["id"] for c in body["items"]] == [wanted.id]


def test_search_by_name_email_and_account_name(client, headers, factory, agent):
    account = factory.account("Babbage & Co", owner_id=agent.id)
    by_name = factory.contact(first_name="Grace", last_name="Hopper", owner_id=agent.id)
    by_email = factory.contact(first_name="X", last_name="Y", email="cobol@navy.mil", owner_id=agent.id)
    by_account = factory.contact(first_name="Z", last_name="W", account_id=account.id, owner_id=agent.id)

    def ids(q: str) -> list[int]:
        return [c["id"] for c in client.get("/api/v1/contacts", query_string={"q": q}, headers=headers).json["items"]]

    assert ids("grace hopper") == [by_name.id]
    assert ids("HOPPER") == [by_name.id]
    assert ids("navy.mil") == [by_email.id]
    assert ids("babbage") == [by_account.id]


def test_search_pages_with_total(client, headers, factory, agent):
    created = [factory.contact(first_name="Page", last_name=f"Person{i:02d}", owner_id=agent.id) for i in range(5)]
    first = client.get("/api/v1/contacts", query_string={"q": "page", "per_page": 2}, headers=headers).get_json()
    third = client.get(
        "/api/v1/contacts", query_string={"q": "page", "per_page": 2, "page": 3}, headers=headers
    ).get_json()
    assert first["total"] == 5 and first["page"] == 1 and first["per_page"] == 2
    assert [c["id"] for c in first["items"]] == [c.id for c in created[:2]]
    assert [c["id"] for c in third["items"]] == [created[4].id]
    everything = client.get("/api/v1/contacts", headers=headers).get_json()
    assert everything["total"] == 5 and everything["per_page"] == 25


def test_per_page_over_100_is_refused(client, headers):
    body = assert_error(client.get("/api/v1/contacts?per_page=101", headers=headers), 422, "per_page")
    assert "per_page" in body["message"]


def test_missing_contact_is_404(client, headers):
    assert_error(client.get("/api/v1/contacts/999999", headers=headers), 404)
    assert_error(client.patch("/api/v1/contacts/999999", json={"vip": True}, headers=headers), 404)


def test_update_is_audited_with_changed_fields(client, headers, factory, agent, session):
    contact = factory.contact(owner_id=agent.id)
    client.patch(f"/api/v1/contacts/{contact.id}", json={"vip": True, "language": "fr"}, headers=headers)
    entry = session.scalar(select(AuditEntry).where(AuditEntry.action == "contact.updated"))
    assert entry.actor_id == agent.id
    assert entry.details["fields"] == ["language", "vip"]


def test_chinese_contact_with_a_full_name_and_national_mainland_numbers(client, headers):
    response = client.post(
        "/api/v1/contacts",
        json={"full_name": "王小明", "phones": [{"number": "138 0013 8000", "region": "CN"},
                                             {"number": "010-6552 9988", "region": "CN", "label": "work"}]},
        headers=headers,
    )
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert (body["full_name"], body["display_name"]) == ("王小明", "王小明")
    assert [(p["e164"], p["display"]) for p in body["phones"]] == [
        ("+8613800138000", "+86 138 0013 8000"), ("+861065529988", "+86 10 6552 9988")]

    found = client.get("/api/v1/contacts", query_string={"q": "小明"}, headers=headers).get_json()
    assert [c["id"] for c in found["items"]] == [body["id"]]
    by_number = client.get("/api/v1/contacts", query_string={"q": "+86 10 6552 9988"}, headers=headers).get_json()
    assert [c["id"] for c in by_number["items"]] == [body["id"]]


def test_a_region_must_be_a_country_code(client, headers):
    response = client.post("/api/v1/contacts", json={"full_name": "李华", "phones": [
        {"number": "010-6552 9988", "region": "China"}]}, headers=headers)
    assert_error(response, 422, field="phones.0.region")
