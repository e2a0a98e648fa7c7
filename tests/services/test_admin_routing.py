"""Routing set-up by admins: every change is checked, audited with before and after, and reaches routing at once."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from sqlalchemy import select

from callcenter.models import AuditEntry, AwayReason, Disposition, IvrFlow, Queue
from callcenter.services import admin_routing, agent_state, business_hours, ivr_flows, queues, routing
from callcenter.services.errors import Conflict, Forbidden, ValidationFailed

T0 = 1_800_000_000.0
ALL_DAY = {day: "00:00-24:00" for day in business_hours.DAYS}


def queue_values(**changes) -> dict:
    values = {
        "name": "Warranty", "description": "Repairs under warranty", "script": "Ask for the serial number.",
        "time_zone": "Europe/Paris", "business_hours": dict(ALL_DAY), "base_priority": "0",
        "service_level_seconds": "20", "service_level_target": "80", "wrap_up_seconds": "30",
        "max_wait_seconds": "600", "reservation_timeout_seconds": "15", "sticky_agent_wait_seconds": "0",
        "callback_owner_wait_seconds": "300", "abandoned_callback_min_wait_seconds": "30",
        "priority_rules": {"vip": "10", "open_urgent_ticket": "5", "repeat_caller_24h": "2"}, "active": "1",
        "skills": {},
    }
    values.update(changes)
    return values


def audits(session, action: str) -> list[AuditEntry]:
    return list(session.scalars(select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.id)))


@pytest.fixture
def admin(factory):
    return factory.user(role="admin", username="ada")


def test_a_new_queue_and_a_skill_given_to_a_signed_in_agent_route_the_next_call_to_them(
        session, factory, acd_redis, admin):
    alice = factory.user(username="alice")
    agent_state.login(session, acd_redis, alice.id, now=T0)
    queues.queue_named(session, "Warranty")  # a miss is not remembered: the new queue must still be found
    skill = admin_routing.create_skill(session, admin, {"name": "warranty"})
    queue = admin_routing.create_queue(session, admin, queue_values(skills={skill.id: "3"}))

    waiting = routing.enqueue_call(session, acd_redis, call_sid="CA1", queue_id=queue.id, from_number=None,
                                   now=T0 + 1)
    assert waiting.offers == [] and waiting.position == 1  # nobody holds the skill yet

    admin_routing.set_agent_skill(session, admin, skill.id, alice.id, "4", r=acd_redis)
    assert agent_state.get_presence(acd_redis, alice.id).skills == {skill.id: 4}
    [offer] = routing.dispatch(session, acd_redis, now=T0 + 2)
    assert (offer.agent_id, offer.queue_id) == (alice.id, queue.id)

    [given] = audits(session, "user.skills_changed")
    assert given.details["before"] == {"skills": {}} and given.details["after"] == {"skills": {"warranty": 4}}
    [created] = audits(session, "queue.created")
    assert created.details["before"] is None
    assert created.details["after"]["skills"] == {"warranty": 3}
    assert created.details["after"]["time_zone"] == "Europe/Paris"


def test_raising_a_queue_s_minimum_level_takes_effect_on_the_next_call_and_is_audited(
        session, factory, acd_redis, admin):
    alice = factory.user(username="alice", skills={"warranty": 3})
    agent_state.login(session, acd_redis, alice.id, now=T0)
    skill_id = alice.skills[0].skill_id
    queue = admin_routing.create_queue(session, admin, queue_values(skills={skill_id: "3"}))
    assert queues.queue_snapshot(session, queue.id).skills == {skill_id: 3}  # now in the process cache

    admin_routing.update_queue(session, admin, queue.id, queue_values(skills={skill_id: "5"},
                                                                      wrap_up_seconds="45"))
    assert queues.queue_snapshot(session, queue.id).skills == {skill_id: 5}
    waiting = routing.enqueue_call(session, acd_redis, call_sid="CA1", queue_id=queue.id, from_number=None,
                                   now=T0 + 1)
    assert waiting.offers == []
    assert routing.queue_config(session, acd_redis, queue.id).wrap_up_seconds == 45

    [updated] = audits(session, "queue.updated")
    before, after = updated.details["before"], updated.details["after"]
    assert (before["skills"], after["skills"]) == ({"warranty": 3}, {"warranty": 5})
    assert (before["wrap_up_seconds"], after["wrap_up_seconds"]) == (30, 45)
    assert updated.actor_id == admin.id and updated.entity_id == str(queue.id)


@pytest.mark.parametrize(("changes", "field"), [
    ({"name": " "}, "name"),
    ({"time_zone": "Mars/Olympus"}, "time_zone"),
    ({"business_hours": {**ALL_DAY, "mon": "9 to 5"}}, "hours_mon"),
    ({"business_hours": {**ALL_DAY, "tue": "25:00-26:00"}}, "business_hours.tue[0]"),
    ({"reservation_timeout_seconds": "1"}, "reservation_timeout_seconds"),
    ({"service_level_target": "120"}, "service_level_target"),
    ({"max_wait_seconds": "ten"}, "max_wait_seconds"),
    ({"priority_rules": {"vip": "1000"}}, "priority_vip"),
    ({"abandoned_callback_min_wait_seconds": "-1"}, "abandoned_callback_min_wait_seconds"),
    ({"recording_policy": "sometimes"}, "recording_policy"),
])
def test_bad_queue_input_is_refused_naming_the_field_and_nothing_is_stored(session, admin, changes, field):
    with pytest.raises(ValidationFailed) as refused:
        admin_routing.create_queue(session, admin, queue_values(**changes))
    assert refused.value.field == field
    session.rollback()
    assert session.scalar(select(Queue).where(Queue.name == "Warranty")) is None
    assert audits(session, "queue.created") == []


def test_the_callback_and_recording_settings_of_a_queue_are_set_and_audited(session, admin):
    queue = admin_routing.create_queue(session, admin, queue_values())
    assert (queue.abandoned_callbacks, queue.callback_owner_wait_seconds) == (False, 300)
    admin_routing.update_queue(session, admin, queue.id, queue_values(
        abandoned_callbacks="1", abandoned_callback_min_wait_seconds="45", callback_owner_wait_seconds="120",
        recording_policy="all"))
    session.expire_all()
    changed = session.get(Queue, queue.id)
    assert (changed.abandoned_callbacks, changed.abandoned_callback_min_wait_seconds,
            changed.callback_owner_wait_seconds, changed.recording_policy) == (True, 45, 120, "all")
    [updated] = audits(session, "queue.updated")
    assert (updated.details["before"]["abandoned_callbacks"], updated.details["after"]["abandoned_callbacks"]) == (
        False, True)


def test_queue_names_are_unique_without_case(session, admin):
    admin_routing.create_queue(session, admin, queue_values())
    with pytest.raises(ValidationFailed) as refused:
        admin_routing.create_queue(session, admin, queue_values(name="warranty"))
    assert refused.value.field == "name"


def test_renaming_a_queue_carries_the_new_name_into_the_flows_that_route_to_it(session, factory, admin):
    factory.demo_line()
    support = session.scalar(select(Queue).where(Queue.name == "Support"))
    values = queue_values(name="Help desk", skills={s.skill_id: str(s.min_level) for s in support.skills})
    admin_routing.update_queue(session, admin, support.id, values)

    flow = session.scalar(select(IvrFlow).where(IvrFlow.phone_number == ivr_flows.DEFAULT_NUMBER))
    assert flow.version == 2 and flow.definition["hours_queue"] == "Help desk"
    assert flow.definition["nodes"]["support_menu"]["choices"][0]["queue"] == "Help desk"
    assert ivr_flows.validate_flow(session, flow.definition) == []
    assert ivr_flows.active_definition(session, ivr_flows.DEFAULT_NUMBER)["hours_queue"] == "Help desk"
    assert admin_routing.flows_routing_to(session, "Help desk") == [flow]
    assert admin_routing.flows_routing_to(session, "Support") == []


def test_a_holiday_closes_the_queue_for_its_local_day_and_removing_it_opens_it_again(session, admin):
    queue = admin_routing.create_queue(session, admin, queue_values(time_zone="America/New_York"))
    late_monday_in_new_york = datetime(2026, 12, 29, 3, 0, tzinfo=UTC)  # Mon 28 Dec, 22:00 local
    assert business_hours.is_open(queues.queue_snapshot(session, queue.id), late_monday_in_new_york)

    holiday = admin_routing.add_holiday(session, admin, queue.id, "2026-12-28", "Staff day")
    assert not business_hours.is_open(queues.queue_snapshot(session, queue.id), late_monday_in_new_york)
    with pytest.raises(Conflict):
        admin_routing.add_holiday(session, admin, queue.id, date(2026, 12, 28))
    session.rollback()
    with pytest.raises(ValidationFailed):
        admin_routing.add_holiday(session, admin, queue.id, "28/12/2026")
    session.rollback()

    admin_routing.remove_holiday(session, admin, queue.id, holiday.id)
    assert business_hours.is_open(queues.queue_snapshot(session, queue.id), late_monday_in_new_york)
    added, removed = audits(session, "queue.updated")
    assert (added.details["before"]["holidays"], added.details["after"]["holidays"]) == ([], ["2026-12-28"])
    assert (removed.details["before"]["holidays"], removed.details["after"]["holidays"]) == (["2026-12-28"], [])


def test_only_admins_change_routing_set_up(session, factory):
    supervisor = factory.user(role="supervisor")
    with pytest.raises(Forbidden):
        admin_routing.create_queue(session, supervisor, queue_values())
    with pytest.raises(Forbidden):
        admin_routing.create_skill(session, supervisor, {"name": "x"})
    with pytest.raises(Forbidden):
        admin_routing.create_disposition(session, supervisor, {"code": "x", "label": "X"})


def test_skills_are_renamed_and_taken_away_with_routing_told_at_once(session, factory, acd_redis, admin):
    alice = factory.user(username="alice", skills={"billing": 5})
    agent_state.login(session, acd_redis, alice.id, now=T0)
    skill_id = alice.skills[0].skill_id
    with pytest.raises(ValidationFailed):
        admin_routing.create_skill(session, admin, {"name": "Billing"})
    session.rollback()
    admin_routing.rename_skill(session, admin, skill_id, {"name": "invoices"})
    assert [(s.name, n) for s, n in admin_routing.list_skills(session)] == [("invoices", 1)]
    with pytest.raises(ValidationFailed):
        admin_routing.set_agent_skill(session, admin, skill_id, alice.id, "11", r=acd_redis)
    session.rollback()

    admin_routing.remove_agent_skill(session, admin, skill_id, alice.id, r=acd_redis)
    assert agent_state.get_presence(acd_redis, alice.id).skills == {}
    [renamed] = audits(session, "skill.renamed")
    assert (renamed.details["before"], renamed.details["after"]) == ({"name": "billing"}, {"name": "invoices"})
    [taken] = audits(session, "user.skills_changed")
    assert taken.details["after"] == {"skills": {}}


def test_dispositions_are_added_relabelled_and_switched_off(session, admin):
    sale = admin_routing.create_disposition(session, admin, {"code": "sale", "label": "Sale"})
    with pytest.raises(ValidationFailed) as refused:
        admin_routing.create_disposition(session, admin, {"code": "Sale!", "label": "x"})
    assert refused.value.field == "code"
    session.rollback()
    admin_routing.update_disposition(session, admin, sale.id, {"label": "Sold", "active": ""})
    row = session.get(Disposition, sale.id)
    assert (row.code, row.label, row.active) == ("sale", "Sold", False)
    [updated] = audits(session, "disposition.updated")
    assert updated.details["before"] == {"code": "sale", "label": "Sale", "active": True}
    assert updated.details["after"] == {"code": "sale", "label": "Sold", "active": False}


def test_away_reasons_start_from_the_built_in_list_and_then_follow_the_admins(session, admin):
    assert [code for code, _ in admin_routing.away_reasons_for_agents(session)] == [
        "break", "lunch", "training", "meeting", "admin"]
    coaching = admin_routing.create_away_reason(session, admin, {"code": "coaching", "label": "Coaching"})
    lunch = session.scalar(select(AwayReason).where(AwayReason.code == "lunch"))
    admin_routing.update_away_reason(session, admin, lunch.id, {"label": "Lunch", "active": None})
    assert [code for code, _ in admin_routing.away_reasons_for_agents(session)] == [
        "break", "training", "meeting", "admin", "coaching"]
    assert coaching.label == "Coaching"
    [switched_off] = audits(session, "away_reason.updated")
    assert (switched_off.details["before"]["active"], switched_off.details["after"]["active"]) == (True, False)


def test_numbers_marked_as_caller_ids_join_the_configured_ones(session, admin):
    row = admin_routing.create_number(session, admin, {"number": "(415) 555-0199", "label": "West",
                                                       "caller_id": "1"})
    assert row.number == "+14155550199"
    assert admin_routing.caller_ids(session, ["+18005550100"]) == ["+18005550100", "+14155550199"]
    with pytest.raises(ValidationFailed):
        admin_routing.create_number(session, admin, {"number": "+1 415 555 0199"})
    session.rollback()
    with pytest.raises(ValidationFailed) as refused:
        admin_routing.create_number(session, admin, {"number": "not a number"})
    assert refused.value.field == "number"
    session.rollback()
    admin_routing.update_number(session, admin, row.id, {"label": "West", "caller_id": "", "active": "1"})
    assert admin_routing.caller_ids(session, ["+18005550100"]) == ["+18005550100"]
    [listed] = [n for n in admin_routing.list_numbers(session, ["+18005550100"]) if n["number"] == row.number]
    assert listed["flow"] is None and listed["row"].label == "West"
    [changed] = audits(session, "phone_number.updated")
    assert (changed.details["before"]["caller_id"], changed.details["after"]["caller_id"]) == (True, False)
