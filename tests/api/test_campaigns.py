"""/api/v1/campaigns and /api/v1/imports: CRUD, start/pause/stop, leads, CSV upload with dry run and progress."""

from __future__ import annotations

import io
import json

import pytest

from callcenter.models import Disposition
from callcenter.services import admin_routing
from tests.api.conftest import assert_error

CSV = "Phone,Name,Balance\n(415) 555-0101,Ada,120\n(415) 555-0102,Alan,80\nnope,Bad,1\n"
MAPPING = {"Phone": "phone", "Name": "first_name", "Balance": "custom:balance"}


@pytest.fixture
def app_config(app_config):
    app_config["CALLER_IDS"] = ["+18005550100"]
    return app_config


@pytest.fixture
def agent(factory):
    return factory.user("agent")


def create(client, headers, **body):
    body.setdefault("name", "Renewals")
    return client.post("/api/v1/campaigns", json=body, headers=headers)


def test_create_read_update_delete(client, admin_headers, agent, session):
    session.add(Disposition(code="sale", label="Sale"))
    session.commit()
    created = create(client, admin_headers, mode="progressive", caller_id="+18005550100", agent_ids=[agent.id],
                     dispositions=[{"code": "sale", "outcome": "final"}], script="Hi {first_name}")
    assert created.status_code == 201, created.get_json()
    body = created.get_json()
    assert (body["status"], body["mode"], body["agent_ids"]) == ("draft", "progressive", [agent.id])
    assert body["dispositions"] == [{"code": "sale", "outcome": "final", "retry_after_minutes": None}]
    assert body["leads"] == {"pending": 0, "done": 0, "total": 0, "by_status": {}}

    url = f"/api/v1/campaigns/{body['id']}"
    changed = client.patch(url, json={"calling_hours_start": "10:00", "max_abandon_rate": 0.02},
                           headers=admin_headers)
    assert changed.status_code == 200
    assert (changed.get_json()["calling_hours_start"], changed.get_json()["max_abandon_rate"]) == ("10:00", 0.02)
    listed = client.get("/api/v1/campaigns", headers=admin_headers).get_json()
    assert [item["name"] for item in listed["items"]] == ["Renewals"]
    assert client.delete(url, headers=admin_headers).status_code == 204
    assert_error(client.get(url, headers=admin_headers), 404, "campaign_id")


@pytest.mark.parametrize(("body", "field"), [
    ({"caller_id": "+19995550000"}, "caller_id"),
    ({"calling_hours_start": "18:00", "calling_hours_end": "08:00"}, "calling_hours_end"),
    ({"calling_hours_start": "8am"}, "calling_hours_start"),
    ({"max_abandon_rate": 0.9}, "max_abandon_rate"),
    ({"dispositions": [{"code": "nope"}]}, "dispositions.0.code"),
])
def test_invalid_campaigns_are_422_naming_the_field(client, admin_headers, body, field):
    assert_error(create(client, admin_headers, **body), 422, field)


def test_a_number_an_admin_marked_as_caller_id_may_be_a_campaigns(client, admin_headers, session, factory):
    assert_error(create(client, admin_headers, caller_id="+14155550199"), 422, "caller_id")
    admin_routing.create_number(session, factory.user(role="admin"), {"number": "+14155550199", "caller_id": "1"})
    created = create(client, admin_headers, caller_id="+14155550199")
    assert created.status_code == 201 and created.get_json()["caller_id"] == "+14155550199"


def test_agents_are_refused(client, agent, bearer):
    assert_error(client.get("/api/v1/campaigns", headers=bearer(agent)), 403)


def test_start_pause_stop(client, admin_headers, agent):
    campaign = create(client, admin_headers, caller_id="+18005550100", agent_ids=[agent.id]).get_json()
    url = f"/api/v1/campaigns/{campaign['id']}"
    assert_error(client.post(url + "/pause", headers=admin_headers), 409, "status")
    assert client.post(url + "/start", headers=admin_headers).get_json()["status"] == "running"
    assert client.post(url + "/pause", headers=admin_headers).get_json()["status"] == "paused"
    assert client.post(url + "/start", headers=admin_headers).get_json()["status"] == "running"
    assert_error(client.delete(url, headers=admin_headers), 409, "status")
    assert client.post(url + "/stop", headers=admin_headers).get_json()["status"] == "finished"
    assert_error(client.post(url + "/start", headers=admin_headers), 409, "status")


def upload(client, headers, campaign_id, text=CSV, **form):
    data = {"file": (io.BytesIO(text.encode()), "leads.csv"), "mapping": json.dumps(MAPPING), **form}
    return client.post(f"/api/v1/campaigns/{campaign_id}/imports", data=data, headers=headers,
                       content_type="multipart/form-data")


def test_dry_run_then_partial_import_with_progress_and_report(client, admin_headers):
    campaign = create(client, admin_headers).get_json()

    dry = upload(client, admin_headers, campaign["id"], dry_run="true")
    assert dry.status_code == 200, dry.get_json()
    assert dry.get_json()["would_import"] == 0  # all or nothing, one bad row
    assert [(e["line"], e["code"]) for e in dry.get_json()["report"]] == [(4, "invalid_phone")]

    queued = upload(client, admin_headers, campaign["id"], all_or_nothing="false")
    assert queued.status_code == 202, queued.get_json()
    progress = client.get(f"/api/v1/imports/{queued.get_json()['id']}", headers=admin_headers).get_json()
    assert (progress["status"], progress["processed_rows"], progress["total_rows"]) == ("done", 3, 3)
    assert (progress["imported_rows"], progress["rejected_rows"]) == (2, 1)
    assert progress["report"][0]["message"] == "'nope' is not a possible phone number"

    leads = client.get(f"/api/v1/campaigns/{campaign['id']}/leads", headers=admin_headers).get_json()
    assert [(lead["phone"], lead["custom_fields"]) for lead in leads["items"]] == [
        ("+14155550101", {"balance": "120"}), ("+14155550102", {"balance": "80"})]
    assert client.get(f"/api/v1/campaigns/{campaign['id']}", headers=admin_headers).get_json()["leads"][
        "pending"] == 2


@pytest.mark.parametrize(("form", "field"), [
    ({"mapping": "{not json"}, "mapping"),
    ({"mapping": json.dumps({"Phone": "shoe_size"})}, "mapping"),
    ({"file": "just text"}, "file"),
])
def test_bad_uploads_are_422(client, admin_headers, form, field):
    campaign = create(client, admin_headers).get_json()
    data = {"file": (io.BytesIO(CSV.encode()), "leads.csv"), "mapping": json.dumps(MAPPING)}
    data.update(form)
    answer = client.post(f"/api/v1/campaigns/{campaign['id']}/imports", data=data, headers=admin_headers,
                         content_type="multipart/form-data")
    assert_error(answer, 422, field)


def test_a_file_that_is_not_utf8_is_422(client, admin_headers):
    campaign = create(client, admin_headers).get_json()
    data = {"file": (io.BytesIO("phone\n电话".encode("gb18030")), "leads.csv")}
    answer = client.post(f"/api/v1/campaigns/{campaign['id']}/imports", data=data, headers=admin_headers,
                         content_type="multipart/form-data")
    assert_error(answer, 422, "file")
