"""services.reports loads the rows the formulas need in batch and groups them by period and team, agent or queue."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from callcenter.models import AgentStateChange, Callback, Queue
from callcenter.services import reports
from callcenter.services.metrics import Thresholds

T0 = datetime(2026, 11, 23, 14, 0, tzinfo=UTC)  # 09:00 in New York
NY = ZoneInfo("America/New_York")


def _query(interval: str = "hour") -> reports.ReportQuery:
    return reports.ReportQuery(start=T0, end=T0 + timedelta(hours=2), interval=interval, zone=NY)


def test_agent_time_starts_from_the_state_before_the_period_and_is_cut_at_each_hour(session, factory):
    """Amy: available since 08:00 (before the report), on_call 09:30-10:15, then wrap_up until 10:30, available.
    09:00-10:00: available 30 min, on_call 30 → occupancy 100 x 30 / 60 = 50.0.
    10:00-11:00: on_call 15, wrap_up 15, available 30 → occupancy 100 x 30 / 60 = 50.0.
    Bob (team South) was offline all along: no row. Team North's rows carry Amy's figures."""
    amy = factory.user(username="amy", team="North")
    factory.user(username="bob", team="South")
    admin = factory.user(role="admin", username="ada")

    def change(minutes: int, state: str) -> AgentStateChange:
        return AgentStateChange(agent_id=amy.id, from_state="-", to_state=state,
                                occurred_at=T0 + timedelta(minutes=minutes))
    session.add_all([change(-60, "available"), change(30, "on_call"), change(75, "wrap_up"),
                     change(90, "available")])
    session.commit()
    rows = reports.agent_report(session, admin, _query(), Thresholds())
    amy_rows = [(r["period_start"], r["occupancy"], r["handling_seconds"]) for r in rows if r["group_id"] == amy.id]
    assert amy_rows == [("2026-11-23T09:00:00-05:00", 50.0, 1800.0), ("2026-11-23T10:00:00-05:00", 50.0, 1800.0)]
    teams = reports.team_report(session, admin, _query(), Thresholds())
    assert {(r["group_name"], r["occupancy"]) for r in teams if r["group_id"] is not None} == {("North", 50.0)}


def test_callbacks_kept_belong_to_the_queue_and_the_hour_they_were_due(session, factory):
    """Support: callbacks due at 09:10 (completed), 09:20 (failed), 10:05 (completed), 09:30 (cancelled) →
    09:00: due 2, kept 1; 10:00: due 1, kept 1."""
    queue = Queue(name="Support")
    session.add(queue)
    session.commit()
    admin = factory.user(role="admin", username="ada")
    for minutes, status in ((10, "completed"), (20, "failed"), (65, "completed"), (30, "cancelled")):
        at = T0 + timedelta(minutes=minutes)
        session.add(Callback(phone_e164="+14155550100", queue_id=queue.id, requested_at=at, due_at=at,
                             status=status))
    session.commit()
    rows = reports.queue_report(session, admin, _query(), Thresholds())
    assert [(r["callbacks_due"], r["callbacks_kept"]) for r in rows if r["group_id"] == queue.id] == [(2, 1), (1, 1)]


def test_a_day_in_the_viewers_zone_is_their_local_day():
    """"2026-11-23" to "2026-11-23" in New York is 05:00 UTC that day to 05:00 UTC the next."""
    query = reports.parse_query("2026-11-23", "2026-11-23", "day", NY)
    assert (query.start.astimezone(UTC), query.end.astimezone(UTC)) == (
        datetime(2026, 11, 23, 5, tzinfo=UTC), datetime(2026, 11, 24, 5, tzinfo=UTC))
