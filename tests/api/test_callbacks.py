"""Callbacks through the API: book, list with filters and scope, read with attempts, reschedule, reassign, cancel,
and the error shape for refused input."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from callcenter.models import CallbackAttempt, Queue
from tests.api.conftest import assert_error


@pytest.fixture
def people(factory, session):
    queue = Queue(name="Support")
    session.add(queue)
    session.commit()
    return {"agent": factory.user("agent", team="North"), "peer": factory.user("agent", team="North"),
            "south": factory.user("agent", team="South"), "super": factory.user("supervisor", team="North"),
            "queue": queue}


def _when(hours: float) -> str:
    return (datetime.now(UTC) + timedelta(hours=hours)).isoformat()


def test_an_agent_books_reschedules_and_cancels_their_callback(client, bearer, people, session):
    headers = bearer(people["agent"])
    created = client.post("/api/v1/callbacks", json={"phone": "(415) 555-0100", "due_at": _when(2),
                                                     "queue_id": people["queue"].id, "notes": "Quote"},
                          headers=headers)
    assert created.status_code == 201, created.get_json()
    body = created.get_json()
    assert (body["phone"], body["status"], body["source"], body["owner_id"], body["dial_attempts"]) == (
        "+14155550100", "scheduled", "api", None, [])
    callback_id = body["id"]
    assert_error(client.post("/api/v1/callbacks", json={"phone": "+14155550100", "due_at": _when(3),
                                                        "queue_id": people["queue"].id}, headers=headers), 409, "phone")
    assert_error(client.post("/api/v1/callbacks", json={"phone": "12", "due_at": _when(3)}, headers=headers),
                 422, "phone")

    session.add(CallbackAttempt(callback_id=callback_id, attempt=1, entry_id=f"cbk-{callback_id}-0",
                                agent_id=people["agent"].id, result="no_answer", call_sid="CAfirst"))
    session.commit()
    later = _when(30)
    moved = client.patch(f"/api/v1/callbacks/{callback_id}", json={"due_at": later}, headers=headers)
    assert moved.status_code == 200, moved.get_json()
    assert datetime.fromisoformat(moved.get_json()["due_at"]) == datetime.fromisoformat(later)
    assert [(a["attempt"], a["result"], a["call_sid"]) for a in moved.get_json()["dial_attempts"]] == [
        (1, "no_answer", "CAfirst")]
    assert_error(client.patch(f"/api/v1/callbacks/{callback_id}", json={"due_at": _when(-48)}, headers=headers),
                 422, "due_at")

    cancelled = client.patch(f"/api/v1/callbacks/{callback_id}", json={"status": "cancelled"}, headers=headers)
    assert cancelled.get_json()["status"] == "cancelled"
    assert_error(client.patch(f"/api/v1/callbacks/{callback_id}", json={"status": "cancelled"}, headers=headers),
                 409, "status")


def test_list_filters_scope_and_reassignment(client, bearer, people, admin_headers):
    mine = client.post("/api/v1/callbacks", json={"phone": "+14155550101", "due_at": _when(1)},
                       headers=bearer(people["agent"])).get_json()
    south = client.post("/api/v1/callbacks", json={"phone": "+14155550102", "due_at": _when(2)},
                        headers=bearer(people["south"])).get_json()
    assert mine["owner_id"] == people["agent"].id  # without a queue, the booking agent owns it

    def ids(headers, query=""):
        return [c["id"] for c in client.get(f"/api/v1/callbacks{query}", headers=headers).get_json()["items"]]

    assert ids(bearer(people["agent"])) == [mine["id"]]
    assert ids(bearer(people["peer"])) == []
    assert ids(bearer(people["super"])) == [mine["id"]]
    assert ids(admin_headers) == [mine["id"], south["id"]]
    assert ids(admin_headers, "?q=0102") == [south["id"]]
    assert ids(admin_headers, f"?owner_id={people['south'].id}&open=true") == [south["id"]]
    assert ids(admin_headers, "?status=cancelled") == []
    assert_error(client.get(f"/api/v1/callbacks/{south['id']}", headers=bearer(people["agent"])), 404,
                 "callback_id")

    boss = bearer(people["super"])
    assert_error(client.patch(f"/api/v1/callbacks/{mine['id']}", json={"owner_id": people["south"].id},
                              headers=boss), 422, "owner_id")
    given = client.patch(f"/api/v1/callbacks/{mine['id']}", json={"owner_id": people["peer"].id}, headers=boss)
    assert given.status_code == 200 and given.get_json()["owner_id"] == people["peer"].id
    assert ids(bearer(people["peer"])) == [mine["id"]]


def test_the_callbacks_api_is_in_the_openapi_document(client):
    paths = client.get("/api/v1/openapi.json").get_json()["paths"]
    assert {"get", "post"} <= set(paths["/api/v1/callbacks"])
    assert {"get", "patch"} <= set(paths["/api/v1/callbacks/{callback_id}"])
