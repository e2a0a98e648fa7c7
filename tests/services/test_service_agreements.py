"""Service agreements: business minutes across nights, weekends and holidays; which tier a ticket gets."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest

from callcenter.models import Holiday, Queue, ServiceAgreement, Team
from callcenter.services import service_agreements as sla
from callcenter.services.errors import Conflict, Forbidden, ValidationFailed

NY = ZoneInfo("America/New_York")
WEEKDAYS_9_TO_5 = {day: [["09:00", "17:00"]] for day in ("mon", "tue", "wed", "thu", "fri")}


def ny(*args: int) -> datetime:
    return datetime(*args, tzinfo=NY)


@pytest.fixture
def calendar() -> sla.Calendar:
    """New York, weekdays 09:00-17:00, Monday 2026-12-07 a holiday."""
    queue = Queue(name="Support", time_zone="America/New_York", business_hours=WEEKDAYS_9_TO_5,
                  holidays=[Holiday(day=date(2026, 12, 7), name="Closed")])
    return sla.queue_calendar(queue)


def test_minutes_inside_one_open_day(calendar):
    assert sla.add_business_minutes(calendar, ny(2026, 12, 2, 10, 0), 90) == ny(2026, 12, 2, 11, 30)


def test_minutes_run_over_the_weekend_and_a_holiday(calendar):
    # Friday 16:00: 60 minutes left that day; Saturday, Sunday and the Monday holiday are closed.
    due = sla.add_business_minutes(calendar, ny(2026, 12, 4, 16, 0), 120)
    assert due == ny(2026, 12, 8, 10, 0)
    assert due.tzinfo == UTC


def test_a_ticket_opened_while_closed_starts_counting_at_the_next_opening(calendar):
    assert sla.add_business_minutes(calendar, ny(2026, 12, 5, 12, 0), 30) == ny(2026, 12, 8, 9, 30)
    assert sla.add_business_minutes(calendar, ny(2026, 12, 2, 18, 0), 0) == ny(2026, 12, 3, 9, 0)


def test_a_whole_day_target_ends_at_the_same_time_the_next_business_day(calendar):
    assert sla.add_business_minutes(calendar, ny(2026, 12, 3, 13, 0), 480) == ny(2026, 12, 4, 13, 0)


def test_an_overnight_interval_counts_past_midnight():
    queue = Queue(name="Night", time_zone="UTC", business_hours={"mon": [["22:00", "02:00"]]}, holidays=[])
    calendar = sla.queue_calendar(queue)
    start = datetime(2026, 11, 30, 23, 0, tzinfo=UTC)  # a Monday
    assert sla.add_business_minutes(calendar, start, 150) == datetime(2026, 12, 1, 1, 30, tzinfo=UTC)
    # 180 minutes until Tuesday 02:00, the other 20 the next Monday night.
    assert sla.add_business_minutes(calendar, start, 200) == datetime(2026, 12, 7, 22, 20, tzinfo=UTC)


def test_a_calendar_that_never_opens_gives_no_deadline():
    calendar = sla.queue_calendar(Queue(name="Never", time_zone="UTC", business_hours={}, holidays=[]))
    assert sla.add_business_minutes(calendar, datetime(2026, 12, 1, tzinfo=UTC), 10) is None


def test_naive_start_is_refused(calendar):
    with pytest.raises(ValueError):
        sla.add_business_minutes(calendar, datetime(2026, 12, 1, 10, 0), 10)


def test_team_calendar_is_its_queue_else_the_default(session):
    queue = Queue(name="Support", time_zone="America/New_York", business_hours=WEEKDAYS_9_TO_5)
    with_queue, without = Team(name="Desk"), Team(name="Floaters")
    session.add_all([queue, with_queue, without])
    session.flush()
    with_queue.queue_id = queue.id
    session.commit()

    assert sla.team_calendar(session, with_queue.id).zone == NY
    assert sla.team_calendar(session, without.id) == sla.DEFAULT_CALENDAR
    assert sla.team_calendar(session, None) == sla.DEFAULT_CALENDAR
    # The default: weekdays 08:00-18:00 UTC.
    start = datetime(2026, 12, 4, 17, 0, tzinfo=UTC)  # Friday
    assert sla.add_business_minutes(sla.DEFAULT_CALENDAR, start, 120) == datetime(2026, 12, 7, 9, 0, tzinfo=UTC)


GOLD = {"urgent": {"first_response": 15, "resolution": 60}, "high": {"first_response": 30, "resolution": 120},
        "normal": {"first_response": 60, "resolution": 480}, "low": {"first_response": 120, "resolution": 960}}


def test_targets_come_from_the_account_tier_then_the_default_setting_then_the_built_in(session, factory):
    admin = factory.user("admin")
    gold = sla.create_agreement(session, admin, name="Gold", targets=GOLD)
    silver = sla.create_agreement(session, admin, name="Silver",
                                  targets={p: {"first_response": 100, "resolution": 1000} for p in GOLD})
    with_tier = factory.account(service_agreement_id=gold.id)
    without = factory.account()

    assert sla.targets_for(session, with_tier.id, "urgent") == (15, 60)
    assert sla.targets_for(session, with_tier.id, "urgent", default_agreement="Silver") == (15, 60)
    assert sla.targets_for(session, without.id, "high", default_agreement="Silver") == (100, 1000)
    assert sla.targets_for(session, None, "high", default_agreement="Silver") == (100, 1000)
    builtin = sla.DEFAULT_TARGETS["low"]
    assert sla.targets_for(session, without.id, "low") == (builtin["first_response"], builtin["resolution"])
    assert sla.targets_for(session, None, "low", default_agreement="Missing") == (builtin["first_response"],
                                                                                 builtin["resolution"])
    assert silver.id != gold.id


@pytest.mark.parametrize(("targets", "field"), [
    ("gold", "targets"),
    ({**GOLD, "critical": GOLD["urgent"]}, "targets.critical"),
    ({k: v for k, v in GOLD.items() if k != "low"}, "targets.low"),
    ({**GOLD, "high": {"first_response": 0, "resolution": 10}}, "targets.high.first_response"),
    ({**GOLD, "high": {"first_response": True, "resolution": 10}}, "targets.high.first_response"),
    ({**GOLD, "high": {"first_response": 50, "resolution": 10}}, "targets.high.first_response"),
])
def test_bad_targets_are_refused_naming_the_field(targets, field):
    with pytest.raises(ValidationFailed) as refused:
        sla.check_targets(targets)
    assert refused.value.field == field


def test_only_an_admin_defines_a_tier_and_names_are_unique(session, factory):
    with pytest.raises(Forbidden):
        sla.create_agreement(session, factory.user("supervisor", team="Desk"), name="Gold", targets=GOLD)
    admin = factory.user("admin")
    sla.create_agreement(session, admin, name="Gold", targets=GOLD)
    with pytest.raises(Conflict):
        sla.create_agreement(session, admin, name="gold", targets=GOLD)
    assert [a.name for a in sla.list_agreements(session)] == ["Gold"]
    assert session.query(ServiceAgreement).count() == 1
