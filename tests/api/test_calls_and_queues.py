"""The read side of /api/v1/calls (the call log's filters and scope, paged; one call's story) and the read-only
/api/v1/queues; both documented in the OpenAPI document."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from callcenter.models import CallEvent, Disposition, Holiday, Queue, QueueSkill, Skill
from tests.api.conftest import assert_error

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@pytest.fixture
def world(factory, session):
    """Team Sales: agents ana and bo; team Support: agent cy; calls at T0 + 0..4 hours."""
    sales, support = Queue(name="Sales"), Queue(name="Support")
    sale = Disposition(code="sale", label="Sale")
    session.add_all([sales, support, sale])
    session.commit()
    ana = factory.user("agent", team="Sales")
    bo = factory.user("agent", team="Sales")
    cy = factory.user("agent", team="Support")
    contact = factory.contact(phones=("+14155550123",), first_name="Ada", last_name="Lovelace")
    calls = {
        "ana_in": factory.call(agent_id=ana.id, queue_id=sales.id, started_at=T0, disposition_id=sale.id,
                               contact_id=contact.id, from_number="+14155550123"),
        "ana_out": factory.call(agent_id=ana.id, direction="outbound-api", started_at=T0 + timedelta(hours=1)),
        "bo_in": factory.call(agent_id=bo.id, queue_id=sales.id, started_at=T0 + timedelta(hours=2)),
        "cy_in": factory.call(agent_id=cy.id, queue_id=support.id, started_at=T0 + timedelta(hours=3)),
    }
    session.add(CallEvent(call_id=calls["ana_in"].id, call_sid=calls["ana_in"].call_sid, kind="initiated",
                          occurred_at=T0, data={}))
    session.commit()
    return {"ana": ana, "bo": bo, "cy": cy, "sales": sales, "support": support, "calls": calls}


def sids(body) -> list[str]:
    return [item["call_sid"] for item in body["items"]]


def test_an_agent_sees_only_their_calls_a_supervisor_their_team_an_admin_all(client, bearer, factory, world):
    calls = world["calls"]
    supervisor = factory.user("supervisor", team="Sales")
    admin = factory.user("admin")

    mine = client.get("/api/v1/calls", headers=bearer(world["ana"])).get_json()
    team = client.get("/api/v1/calls", headers=bearer(supervisor)).get_json()
    everything = client.get("/api/v1/calls", headers=bearer(admin)).get_json()

    assert sids(mine) == [calls["ana_out"].call_sid, calls["ana_in"].call_sid] and mine["total"] == 2
    assert set(sids(team)) == {calls[k].call_sid for k in ("ana_in", "ana_out", "bo_in")}
    assert set(sids(everything)) == {c.call_sid for c in calls.values()}
    assert_error(client.get(f"/api/v1/calls/{calls['bo_in'].call_sid}", headers=bearer(world["ana"])), 404, "call_sid")
    assert client.get(f"/api/v1/calls/{calls['bo_in'].call_sid}", headers=bearer(supervisor)).status_code == 200


def test_the_list_filters_like_the_call_log_and_pages(client, bearer, factory, world):
    calls = world["calls"]
    headers = bearer(factory.user("admin"))

    def found(**query) -> list[str]:
        response = client.get("/api/v1/calls", query_string=query, headers=headers)
        assert response.status_code == 200, response.get_json()
        return sids(response.get_json())

    assert found(queue=world["sales"].id) == [calls["bo_in"].call_sid, calls["ana_in"].call_sid]
    assert found(agent=world["cy"].id) == [calls["cy_in"].call_sid]
    assert found(direction="outbound-api") == [calls["ana_out"].call_sid]
    assert found(disposition="sale") == [calls["ana_in"].call_sid]
    assert found(**{"from": (T0 + timedelta(hours=1)).isoformat(), "to": (T0 + timedelta(hours=3)).isoformat()}) \
        == [calls["bo_in"].call_sid, calls["ana_out"].call_sid]
    assert found(number="(415) 555-0123") == [calls["ana_in"].call_sid]

    page = client.get("/api/v1/calls", query_string={"per_page": 3, "page": 2}, headers=headers).get_json()
    assert (page["total"], page["page"], page["per_page"], sids(page)) == (4, 2, 3, [calls["ana_in"].call_sid])
    assert_error(client.get("/api/v1/calls", query_string={"direction": "sideways"}, headers=headers), 422,
                 "direction")
    assert_error(client.get("/api/v1/calls", query_string={"from": "yesterday"}, headers=headers), 422, "from")
    assert_error(client.get("/api/v1/calls", query_string={"number": "not a number"}, headers=headers), 422,
                 "number")


def test_one_call_has_its_story(client, bearer, world):
    call = world["calls"]["ana_in"]

    body = client.get(f"/api/v1/calls/{call.call_sid}", headers=bearer(world["ana"])).get_json()

    assert body["call_sid"] == call.call_sid and body["disposition"] == "sale"
    assert body["queue"] == {"id": world["sales"].id, "name": "Sales"}
    assert body["agent"]["id"] == world["ana"].id
    assert body["contact"] == {"id": call.contact_id, "name": "Ada Lovelace"}
    assert [e["kind"] for e in body["events"]] == ["initiated"]
    assert body["legs"] == [] and body["callback_ids"] == [] and body["ticket_ids"] == []
    assert_error(client.get("/api/v1/calls/CAnope", headers=bearer(world["ana"])), 404, "call_sid")


def test_queues_are_listed_and_read_by_anyone_signed_in(client, bearer, session, world):
    skill = Skill(name="spanish")
    session.add(skill)
    session.flush()
    session.add_all([QueueSkill(queue_id=world["support"].id, skill_id=skill.id, min_level=3),
                     Holiday(queue_id=world["support"].id, day=datetime(2026, 12, 25).date(), name="Christmas")])
    session.commit()
    headers = bearer(world["cy"])

    listed = client.get("/api/v1/queues", headers=headers).get_json()
    one = client.get(f"/api/v1/queues/{world['support'].id}", headers=headers).get_json()

    assert [q["name"] for q in listed["items"]] == ["Sales", "Support"] and listed["total"] == 2
    assert one["skills"] == [{"skill_id": skill.id, "skill": "spanish", "min_level": 3}]
    assert one["holidays"] == [{"day": "2026-12-25", "name": "Christmas"}]
    assert one["time_zone"] == "UTC" and one["wrap_up_seconds"] == 30
    assert_error(client.get("/api/v1/queues/999999", headers=headers), 404, "queue_id")
    assert client.get("/api/v1/queues").status_code == 401
    assert client.post("/api/v1/queues", json={"name": "x"}, headers=headers).status_code == 405


def test_calls_queues_and_users_are_in_the_openapi_document(client):
    paths = client.get("/api/v1/openapi.json").get_json()["paths"]

    assert "get" in paths["/api/v1/calls"] and "post" in paths["/api/v1/calls"]
    assert {p["name"] for p in paths["/api/v1/calls"]["get"]["parameters"]} >= {
        "from", "to", "queue", "agent", "direction", "disposition", "page", "per_page"}
    methods = {"get", "post", "put", "patch", "delete"}
    assert set(paths["/api/v1/calls/{call_sid}"]) & methods == {"get"}
    assert set(paths["/api/v1/queues"]) & methods == {"get"}
    assert set(paths["/api/v1/queues/{queue_id}"]) & methods == {"get"}
    assert {"get", "post"} <= set(paths["/api/v1/users"])
    assert {"get", "patch"} <= set(paths["/api/v1/users/{user_id}"])
