"""/api/v1/do-not-call and `callcenter dnc import`: admins and supervisors keep the lists; imports are all or
nothing with a report per row; the dialing gate's refusals are there to review."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select

from callcenter.cli import main
from callcenter.models import AuditEntry, DialAttempt, DoNotCall
from tests.api.conftest import assert_error

BASE = "/api/v1/do-not-call"


@pytest.fixture
def supervisor_headers(factory, bearer):
    return bearer(factory.user("supervisor", team="Operations"))


@pytest.fixture
def agent_headers(factory, bearer):
    return bearer(factory.user("agent"))


def _count(session, source: str | None = None) -> int:
    query = select(func.count()).select_from(DoNotCall)
    if source:
        query = query.where(DoNotCall.source == source)
    return session.scalar(query)


def test_a_supervisor_adds_lists_and_removes_a_number(client, session, supervisor_headers):
    added = client.post(BASE, json={"number": "(415) 555-0190", "reason": "asked on the phone"},
                        headers=supervisor_headers)
    assert added.status_code == 201, added.get_json()
    entry = added.get_json()
    assert (entry["number"], entry["source"], entry["reason"]) == ("+14155550190", "internal", "asked on the phone")
    assert entry["added_by_id"] is not None

    again = client.post(BASE, json={"number": "+1 415 555 0190"}, headers=supervisor_headers)
    assert_error(again, 409, "number")
    other_list = client.post(BASE, json={"number": "+1 415 555 0190", "source": "imported"},
                             headers=supervisor_headers)
    assert other_list.status_code == 201

    listed = client.get(BASE, query_string={"q": "0190", "source": "internal"}, headers=supervisor_headers)
    assert listed.status_code == 200
    assert [(i["number"], i["source"]) for i in listed.get_json()["items"]] == [("+14155550190", "internal")]
    assert listed.get_json()["total"] == 1

    removed = client.delete(f"{BASE}/{entry['id']}", headers=supervisor_headers)
    assert removed.status_code == 204
    assert _count(session, "internal") == 0 and _count(session, "imported") == 1
    assert assert_error(client.delete(f"{BASE}/{entry['id']}", headers=supervisor_headers), 404, "entry_id")
    actions = session.scalars(select(AuditEntry.action).where(AuditEntry.action.like("dnc.%"))).all()
    assert sorted(actions) == ["dnc.add", "dnc.add", "dnc.remove"]


def test_a_number_that_is_not_one_is_refused(client, supervisor_headers):
    assert_error(client.post(BASE, json={"number": "12"}, headers=supervisor_headers), 422, "number")


def test_agents_may_not_touch_the_lists_nor_see_the_refusals(client, session, agent_headers):
    assert_error(client.post(BASE, json={"number": "+14155550190"}, headers=agent_headers), 403)
    assert_error(client.get(BASE, headers=agent_headers), 403)
    assert_error(client.post(f"{BASE}/import", json={"csv": "+14155550190"}, headers=agent_headers), 403)
    assert_error(client.get(f"{BASE}/refusals", headers=agent_headers), 403)
    assert _count(session) == 0


def test_import_reports_every_row_and_lists_them(client, session, admin_headers):
    client.post(BASE, json={"number": "+14155550191", "source": "imported"}, headers=admin_headers)
    csv_text = ("name,number\nAnn,(415) 555-0192\nBen,+1 415 555 0191\nAnn again,415-555-0192\n\n"
                "Carl,0044 20 7946 0958\n")

    response = client.post(f"{BASE}/import", json={"csv": csv_text, "reason": "national list 2026-12"},
                           headers=admin_headers)

    assert response.status_code == 201, response.get_json()
    report = response.get_json()
    assert (report["committed"], report["added"], report["rejected"]) == (True, 2, 0)
    assert [(r["line"], r["number"], r["status"]) for r in report["rows"]] == [
        (2, "+14155550192", "added"), (3, "+14155550191", "already_listed"), (4, "+14155550192", "duplicate"),
        (6, "+442079460958", "added")]
    assert _count(session, "imported") == 3


def test_import_with_a_bad_row_imports_nothing_and_says_which(client, session, admin_headers):
    csv_text = "+14155550193\nnot a number\n+14155550194\n"

    response = client.post(f"{BASE}/import", json={"csv": csv_text}, headers=admin_headers)

    assert response.status_code == 422
    report = response.get_json()
    assert (report["committed"], report["added"], report["rejected"]) == (False, 0, 1)
    assert [(r["line"], r["number"], r["status"]) for r in report["rows"]] == [
        (1, "+14155550193", "added"), (2, None, "rejected"), (3, "+14155550194", "added")]
    assert "not a possible phone number" in report["rows"][1]["error"]
    assert _count(session) == 0


def test_refusals_are_listed_for_supervisors_with_their_reason(client, session, supervisor_headers):
    at = datetime(2026, 7, 1, 19, 0, tzinfo=UTC)
    session.add_all([DialAttempt(phone_e164="+14155550195", path="softphone", allowed=False, reason="dnc_internal",
                                 at=at),
                     DialAttempt(phone_e164="+14155550196", path="click_to_call", allowed=True, at=at)])
    session.commit()

    response = client.get(f"{BASE}/refusals", headers={**supervisor_headers, "Accept-Language": "zh-Hans"})

    assert response.status_code == 200
    assert [(r["number"], r["path"], r["reason"], r["message"]) for r in response.get_json()] == [
        ("+14155550195", "softphone", "dnc_internal", "该号码在我们的免打扰名单上")]


def test_the_endpoints_are_in_the_openapi_document(client):
    paths = client.get("/api/v1/openapi.json").get_json()["paths"]
    assert {"/api/v1/do-not-call", "/api/v1/do-not-call/{entry_id}", "/api/v1/do-not-call/import",
            "/api/v1/do-not-call/refusals"} <= set(paths)
    assert set(paths["/api/v1/do-not-call"]) >= {"get", "post"}
    assert "409" in paths["/api/v1/calls"]["post"]["responses"]


def test_cli_imports_a_file_all_or_nothing(runner, session, tmp_path):
    good = tmp_path / "dnc.csv"
    good.write_text("number\n+14155550197\n(415) 555-0198\n", encoding="utf-8")
    bad = tmp_path / "bad.csv"
    bad.write_text("+14155550199\nnonsense\n", encoding="utf-8")

    result = runner.invoke(main, args=["dnc", "import", str(good), "--reason", "list A"])
    assert result.exit_code == 0, result.output
    assert "Imported 2 number(s) to the imported list" in result.output
    assert sorted(session.scalars(select(DoNotCall.phone_e164))) == ["+14155550197", "+14155550198"]

    failed = runner.invoke(main, args=["dnc", "import", str(bad)])
    assert failed.exit_code == 1
    assert "line 2: 'nonsense' rejected" in failed.output
    assert "nothing was imported" in failed.output
    session.expire_all()
    assert _count(session) == 2
