"""The administration pages for routing: admins only, forms that explain refusals, changes audited and live."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from callcenter.models import AuditEntry, AwayReason, Disposition, PhoneNumber, Queue, Skill, User
from callcenter.services import business_hours, queues

ALL_DAY = {f"hours_{day}": "00:00-24:00" for day in business_hours.DAYS}


def queue_form(**changes) -> dict:
    form = {
        "name": "Warranty", "description": "", "script": "Ask for the serial number.", "time_zone": "UTC",
        "base_priority": "0", "service_level_seconds": "20", "service_level_target": "80", "wrap_up_seconds": "30",
        "max_wait_seconds": "600", "reservation_timeout_seconds": "15", "sticky_agent_wait_seconds": "0",
        "callback_owner_wait_seconds": "300", "abandoned_callback_min_wait_seconds": "30",
        "priority_vip": "10", "priority_open_urgent_ticket": "5", "priority_repeat_caller_24h": "2", "active": "1",
        **ALL_DAY,
    }
    form.update(changes)
    return form


@pytest.fixture
def ada(factory, auth):
    admin = factory.user(role="admin", username="ada")
    auth.login("ada")
    return admin


def last_audit(session, action: str) -> AuditEntry:
    session.expire_all()
    return session.scalar(select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.id.desc()))


def test_the_back_office_links_admins_to_every_section(client, ada):
    nav = client.get("/audit").get_data(as_text=True)
    assert 'href="/admin/"' in nav
    index = client.get("/admin/")
    assert index.status_code == 200
    page = index.get_data(as_text=True)
    for href in ("/admin/queues", "/admin/skills", "/admin/dispositions", "/admin/away-reasons", "/admin/numbers",
                 "/admin/ivr/"):
        assert f'href="{href}' in page
    for path in ("/admin/queues", "/admin/queues/new", "/admin/skills", "/admin/dispositions",
                 "/admin/away-reasons", "/admin/numbers"):
        assert client.get(path).status_code == 200, path


@pytest.mark.parametrize("role", ["agent", "supervisor"])
def test_everyone_but_admins_gets_403(client, auth, factory, session, role):
    factory.user(role=role, username="pat")
    skill = Skill(name="warranty")
    session.add(skill)
    session.commit()
    auth.login("pat")
    skill_page = () if role == "supervisor" else (f"/admin/skills/{skill.id}",)  # theirs: their team's holders
    for path in ("/admin/", "/admin/queues", "/admin/queues/new", *skill_page, "/admin/numbers"):
        assert client.get(path).status_code == 403, path
    assert client.post("/admin/queues/new", data=queue_form()).status_code == 403
    assert client.post(f"/admin/skills/{skill.id}/holders", data={"user_id": "1", "level": "5"}).status_code == 403
    assert session.scalar(select(Queue).where(Queue.name == "Warranty")) is None


def test_a_supervisor_gives_and_takes_their_own_teams_skills_only(client, auth, factory, session):
    factory.user(role="supervisor", username="sam", team="North")
    own = factory.user(username="olga", team="North")
    other = factory.user(username="otto", team="South")
    skill = Skill(name="warranty")
    session.add(skill)
    session.commit()
    auth.login("sam")

    page = client.get(f"/admin/skills/{skill.id}").get_data(as_text=True)
    assert "(olga)" in page and "(otto)" not in page and 'id="rename-form"' not in page
    assert "Team skills" in client.get("/admin/skills").get_data(as_text=True)
    given = client.post(f"/admin/skills/{skill.id}/holders", data={"user_id": str(own.id), "level": "6"})
    assert given.status_code == 302
    refused = client.post(f"/admin/skills/{skill.id}/holders", data={"user_id": str(other.id), "level": "6"})
    assert refused.status_code == 403 and "own team" in refused.get_data(as_text=True)
    assert client.post(f"/admin/skills/{skill.id}", data={"name": "repairs"}).status_code == 403
    assert client.post("/admin/skills", data={"name": "billing"}).status_code == 403

    session.expire_all()
    assert {u.username: {s.skill.name: s.level for s in u.skills} for u in (own, other)} == {
        "olga": {"warranty": 6}, "otto": {}}
    [entry] = session.scalars(select(AuditEntry).where(AuditEntry.action == "user.skills_changed")).all()
    assert entry.entity_id == str(own.id) and entry.details["after"] == {"skills": {"warranty": 6}}
    assert client.post(f"/admin/skills/{skill.id}/holders/{own.id}/delete").status_code == 302
    session.expire_all()
    assert session.get(User, own.id).skills == []


def test_anonymous_visitors_are_sent_to_log_in(client):
    response = client.get("/admin/queues")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_an_admin_creates_and_edits_a_queue_with_skills_and_hours(client, session, ada):
    skill = Skill(name="warranty")
    session.add(skill)
    session.commit()
    created = client.post("/admin/queues/new", data={
        **queue_form(), "skill": [str(skill.id)], f"skill_{skill.id}_level": "4"})
    assert created.status_code == 302
    queue = session.scalar(select(Queue).where(Queue.name == "Warranty"))
    assert [(s.skill_id, s.min_level) for s in queue.skills] == [(skill.id, 4)]
    assert queue.business_hours["sun"] == [["00:00", "24:00"]] and queue.script == "Ask for the serial number."
    assert 'value="00:00-24:00"' in client.get(created.headers["Location"]).get_data(as_text=True)

    edited = client.post(f"/admin/queues/{queue.id}", data=queue_form(
        time_zone="Asia/Shanghai", hours_sat="", hours_sun="", service_level_target="90", active=""))
    assert edited.status_code == 302
    session.expire_all()
    queue = session.get(Queue, queue.id)
    assert (queue.time_zone, queue.service_level_target, queue.active, queue.skills) == ("Asia/Shanghai", 90,
                                                                                          False, [])
    assert "sat" not in queue.business_hours
    assert queues.queue_snapshot(session, queue.id).time_zone == "Asia/Shanghai"
    entry = last_audit(session, "queue.updated")
    assert entry.actor_id == ada.id
    assert (entry.details["before"]["time_zone"], entry.details["after"]["time_zone"]) == ("UTC", "Asia/Shanghai")
    assert (entry.details["before"]["skills"], entry.details["after"]["skills"]) == ({"warranty": 4}, {})
    assert (entry.details["before"]["active"], entry.details["after"]["active"]) == (True, False)


@pytest.mark.parametrize(("changes", "expected"), [
    ({"time_zone": "Moon/Base"}, "Moon/Base"),
    ({"hours_mon": "nine to five"}, "nine to five"),
    ({"name": ""}, "Name is required"),
    ({"reservation_timeout_seconds": "abc"}, "reservation_timeout_seconds must be a whole number"),
])
def test_bad_queue_input_re_renders_the_form_with_the_reason(client, session, ada, changes, expected):
    response = client.post("/admin/queues/new", data=queue_form(**changes))
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert 'id="form-error"' in page and expected in page
    assert ">Ask for the serial number.</textarea>" in page  # what the admin typed is kept
    assert session.scalar(select(Queue).where(Queue.name == "Warranty")) is None


def test_holidays_are_added_and_removed_from_the_queue_page(client, session, ada):
    client.post("/admin/queues/new", data=queue_form())
    queue = session.scalar(select(Queue).where(Queue.name == "Warranty"))
    assert client.post(f"/admin/queues/{queue.id}/holidays",
                       data={"day": "2026-12-25", "holiday_name": "Christmas"}).status_code == 302
    bad = client.post(f"/admin/queues/{queue.id}/holidays", data={"day": "25/12"})
    assert bad.status_code == 422 and "YYYY-MM-DD" in bad.get_data(as_text=True)
    twice = client.post(f"/admin/queues/{queue.id}/holidays", data={"day": "2026-12-25"})
    assert twice.status_code == 409
    session.expire_all()
    [holiday] = session.get(Queue, queue.id).holidays
    assert (holiday.day.isoformat(), holiday.name) == ("2026-12-25", "Christmas")
    assert client.post(f"/admin/queues/{queue.id}/holidays/{holiday.id}/delete").status_code == 302
    session.expire_all()
    assert session.get(Queue, queue.id).holidays == []
    entry = last_audit(session, "queue.updated")
    assert (entry.details["before"]["holidays"], entry.details["after"]["holidays"]) == (["2026-12-25"], [])


def test_the_skill_page_gives_an_agent_the_skill_and_routing_sees_it(client, session, factory, ada, app):
    from callcenter.redis_conn import get_redis
    from callcenter.services import agent_state

    alice = factory.user(username="alice")
    agent_state.login(session, get_redis(app), alice.id)
    assert client.post("/admin/skills", data={"name": "warranty"}).status_code == 302
    skill = session.scalar(select(Skill).where(Skill.name == "warranty"))
    page = client.get(f"/admin/skills/{skill.id}").get_data(as_text=True)
    assert f'<option value="{alice.id}">' in page

    assert client.post(f"/admin/skills/{skill.id}/holders", data={"user_id": str(alice.id), "level": "7"}
                       ).status_code == 302
    assert agent_state.get_presence(get_redis(app), alice.id).skills == {skill.id: 7}
    assert 'data-user="alice"' in client.get(f"/admin/skills/{skill.id}").get_data(as_text=True)
    entry = last_audit(session, "user.skills_changed")
    assert entry.entity_id == str(alice.id) and entry.details["after"] == {"skills": {"warranty": 7}}

    too_high = client.post(f"/admin/skills/{skill.id}/holders", data={"user_id": str(alice.id), "level": "12"})
    assert too_high.status_code == 422 and "from 1 to 10" in too_high.get_data(as_text=True)
    nobody = client.post(f"/admin/skills/{skill.id}/holders", data={"user_id": "", "level": "3"})
    assert nobody.status_code == 422
    assert client.post("/admin/skills", data={"name": "Warranty"}).status_code == 422
    assert client.post(f"/admin/skills/{skill.id}", data={"name": "repairs"}).status_code == 302
    assert client.post(f"/admin/skills/{skill.id}/holders/{alice.id}/delete").status_code == 302
    assert agent_state.get_presence(get_redis(app), alice.id).skills == {}
    session.expire_all()
    assert session.get(Skill, skill.id).name == "repairs" and session.get(User, alice.id).skills == []


def test_dispositions_and_away_reasons_are_managed_and_reach_the_console_config(client, session, ada, auth, factory):
    assert client.post("/admin/dispositions", data={"code": "sale", "label": "Sale"}).status_code == 302
    bad = client.post("/admin/dispositions", data={"code": "Big Sale", "label": "x"})
    assert bad.status_code == 422 and "lowercase" in bad.get_data(as_text=True)
    sale = session.scalar(select(Disposition).where(Disposition.code == "sale"))
    assert client.post(f"/admin/dispositions/{sale.id}", data={"label": "Sold"}).status_code == 302  # unticked
    entry = last_audit(session, "disposition.updated")
    assert entry.details["before"]["active"] is True and entry.details["after"] == {
        "code": "sale", "label": "Sold", "active": False}

    built_in = client.get("/admin/away-reasons").get_data(as_text=True)
    assert 'id="built-in"' in built_in and "Lunch" in built_in
    assert client.post("/admin/away-reasons", data={"code": "coaching", "label": "Coaching"}).status_code == 302
    lunch = session.scalar(select(AwayReason).where(AwayReason.code == "lunch"))
    assert client.post(f"/admin/away-reasons/{lunch.id}", data={"label": "Lunch"}).status_code == 302
    assert client.post("/admin/away-reasons", data={"code": "coaching", "label": "Again"}).status_code == 422

    factory.user(username="alice")
    auth.logout()
    auth.login("alice")
    config = client.get("/api/v1/agent/config").get_json()
    assert [r["code"] for r in config["away_reasons"]] == ["break", "training", "meeting", "admin", "coaching"]
    assert "sale" not in [d["code"] for d in config["dispositions"]]


def test_numbers_show_their_flow_and_caller_ids_reach_the_console(client, session, ada, auth, factory):
    factory.demo_line()
    page = client.get("/admin/numbers").get_data(as_text=True)
    assert 'data-number="+18005550100"' in page and "Main line" in page
    assert client.post("/admin/numbers", data={"number": "+1 415 555 0199", "label": "West", "caller_id": "1"}
                       ).status_code == 302
    bad = client.post("/admin/numbers", data={"number": "12"})
    assert bad.status_code == 422 and 'id="form-error"' in bad.get_data(as_text=True)
    row = session.scalar(select(PhoneNumber).where(PhoneNumber.number == "+14155550199"))
    assert row.caller_id and row.label == "West"
    assert last_audit(session, "phone_number.created").details["after"]["number"] == "+14155550199"

    factory.user(username="alice")
    auth.logout()
    auth.login("alice")
    assert "+14155550199" in client.get("/api/v1/agent/config").get_json()["caller_ids"]


def test_the_pages_and_their_refusals_speak_the_admin_s_language(client, session, ada):
    ada.language = "zh_Hans"
    session.commit()
    assert "营业时间" in client.get("/admin/queues/new").get_data(as_text=True)
    refused = client.post("/admin/queues/new", data=queue_form(name=""))
    assert refused.status_code == 422 and "为必填项" in refused.get_data(as_text=True)


def test_a_queue_page_names_the_flows_that_route_callers_to_it(client, session, factory, ada):
    factory.demo_line()
    support = session.scalar(select(Queue).where(Queue.name == "Support"))
    page = client.get(f"/admin/queues/{support.id}").get_data(as_text=True)
    routed_by = page.split('id="routed-by"', 1)[1].split("</p>", 1)[0]
    assert "Main line (+18005550100)" in routed_by
    client.post("/admin/queues/new", data=queue_form())
    warranty = session.scalar(select(Queue).where(Queue.name == "Warranty"))
    assert "No IVR flow sends callers here yet" in client.get(f"/admin/queues/{warranty.id}").get_data(as_text=True)
