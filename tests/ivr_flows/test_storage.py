"""Saving flows: versions, audit, one flow per number, the demo flow, and the open/closed greeting state."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from sqlalchemy import select

from callcenter.models import AuditEntry, Holiday, IvrFlow
from callcenter.services import ivr_flows
from callcenter.services.errors import Conflict


def test_save_normalises_creates_then_bumps_the_version(session, queues, factory, default_flow):
    admin = factory.user(role="admin")
    default_flow["number"] = "(800) 555-0100"
    default_flow["nodes"]["main"]["choices"][0]["key"] = 1
    default_flow["nodes"]["main"]["choices"][0]["speech"] = "sales"

    first = ivr_flows.save_flow(session, admin.id, default_flow)
    session.commit()
    assert (first.phone_number, first.version, first.active, first.updated_by_id) == ("+18005550100", 1, True,
                                                                                      admin.id)
    stored_choice = first.definition["nodes"]["main"]["choices"][0]
    assert (stored_choice["key"], stored_choice["speech"]) == ("1", ["sales"])

    default_flow["name"] = "Main line v2"
    second = ivr_flows.save_flow(session, admin.id, default_flow)
    session.commit()
    assert (second.id, second.version, second.name) == (first.id, 2, "Main line v2")

    audit = session.scalars(select(AuditEntry).where(AuditEntry.entity_type == "IvrFlow")
                            .order_by(AuditEntry.id)).all()
    assert [(a.action, a.actor_id, a.details["version"]) for a in audit] == [
        ("ivr_flow.created", admin.id, 1), ("ivr_flow.updated", admin.id, 2)]


def test_an_invalid_flow_is_not_stored_and_lists_its_problems(session, queues, default_flow):
    default_flow["nodes"]["main"]["default"] = {"queue": "Nowhere"}
    default_flow["start"] = "nope"

    with pytest.raises(ivr_flows.FlowValidationFailed) as caught:
        ivr_flows.save_flow(session, None, default_flow)

    assert caught.value.status == 422
    assert {p.path for p in caught.value.problems} == {"start", "nodes.main.default.queue"}
    assert "2 problems" in caught.value.message
    assert session.scalar(select(IvrFlow)) is None


def test_editing_a_flow_onto_another_flows_number_is_a_conflict(session, queues, default_flow):
    main = ivr_flows.save_flow(session, None, default_flow)
    default_flow["number"] = "+18005550199"
    other = ivr_flows.save_flow(session, None, default_flow)
    session.commit()

    default_flow["number"] = "+18005550100"
    with pytest.raises(Conflict, match="already has its own flow"):
        ivr_flows.save_flow(session, None, default_flow, flow_id=other.id)

    default_flow["number"] = "+18005550142"
    moved = ivr_flows.save_flow(session, None, default_flow, flow_id=other.id)
    assert (moved.id, moved.phone_number, moved.version) == (other.id, "+18005550142", 2)
    assert main.phone_number == "+18005550100"


def test_only_active_flows_answer(session, queues, default_flow):
    flow = ivr_flows.save_flow(session, None, default_flow)
    session.commit()
    assert ivr_flows.flow_for_number(session, "+18005550100").id == flow.id

    ivr_flows.set_active(session, None, flow.id, False)
    session.commit()
    assert ivr_flows.flow_for_number(session, "+18005550100") is None
    assert session.scalars(select(AuditEntry.action)).all()[-1] == "ivr_flow.deactivated"


def test_ensure_default_flow_loads_once(session, queues):
    created = ivr_flows.ensure_default_flow(session)
    session.commit()
    assert created.phone_number == "+18005550100" and created.name == "Main line"
    assert ivr_flows.ensure_default_flow(session) is None
    assert len(session.scalars(select(IvrFlow)).all()) == 1


def test_greeting_state_follows_the_hours_queue(session, queues, default_flow):
    support = queues["Support"]
    support.time_zone = "America/New_York"
    support.business_hours = {"mon": [["08:00", "18:00"]]}
    support.holidays = [Holiday(day=date(2025, 1, 20), name="MLK Day")]
    session.commit()
    monday_noon_ny = datetime(2025, 1, 13, 17, 0, tzinfo=UTC)

    open_state = ivr_flows.greeting_state(session, default_flow, monday_noon_ny)
    assert (open_state.open, open_state.hours_queue) == (True, "Support")

    holiday = ivr_flows.greeting_state(session, default_flow, datetime(2025, 1, 20, 17, 0, tzinfo=UTC))
    assert holiday.open is False
    assert holiday.opening_message == "We open Monday, January 27 at 8 AM."
    assert holiday.after_hours["action"] == "voicemail"


def test_broken_queue_hours_do_not_turn_callers_away(session, queues, default_flow, caplog):
    queues["Support"].time_zone = "Mars/Olympus"
    session.commit()

    state = ivr_flows.greeting_state(session, default_flow, datetime(2025, 1, 13, 17, 0, tzinfo=UTC))

    assert state.open is True
    assert "Mars/Olympus" in caplog.text
