"""The /reports pages: the figures of the API in a table, charts drawn as inline SVG, CSV of the table, scope, and
scheduled e-mails mailed once per period by the ticker's job."""

from __future__ import annotations

import csv
import email
import io
from datetime import UTC, datetime, timedelta
from pathlib import Path

from callcenter.models import Call, Queue, ReportSchedule
from workers import reports as report_jobs

NOON = datetime(2026, 11, 23, 17, 0, tzinfo=UTC)  # noon in New York


def _calls(session, factory):
    """Support: 3 calls on 2026-11-23 between 11:00 and 12:00 New York time, answered after 10 s, 30 s, and one
    abandoned after 60 s; 1 call at 14:10 answered after 4 s."""
    queue = Queue(name="Support", time_zone="America/New_York", service_level_seconds=20)
    session.add(queue)
    session.commit()
    amy = factory.user(username="amy", team="North")
    at = NOON - timedelta(hours=1)
    for wait, answered in ((10, True), (30, True), (60, False)):
        factory.call(queue_id=queue.id, agent_id=amy.id if answered else None, enqueued_at=at,
                     agent_answered_at=at + timedelta(seconds=wait) if answered else None,
                     ended_at=at + timedelta(seconds=wait + 100))
    later = NOON + timedelta(hours=2, minutes=10)
    factory.call(queue_id=queue.id, agent_id=amy.id, enqueued_at=later, agent_answered_at=later + timedelta(seconds=4),
                 ended_at=later + timedelta(seconds=64))
    return queue, amy


def _cells(html: str, group: str, period: str) -> dict[str, str]:
    """The figures of one table row, by column name, read from its data attributes."""
    marker = f'data-group="{group}" data-period="{period}"'
    row = html.split(marker, 1)[1].split("</tr>", 1)[0]
    cells = {}
    for part in row.split('data-name="')[1:]:
        name, rest = part.split('"', 1)
        cells[name] = rest.split(">", 1)[1].split("<", 1)[0]
    return cells


def test_the_queue_report_page_shows_the_figures_and_charts(client, auth, session, factory):
    """Per hour in New York: 11:00 offered 3, answered 2, abandoned 1, within 20 s 1 → service level
    100 x 1 / 3 = 33.3; 14:00 offered 1, service level 100.0. The offered chart has one bar per hour (24),
    the hours with calls drawn with their values."""
    queue, _ = _calls(session, factory)
    admin = factory.user(role="admin", username="ada")
    admin.time_zone = "America/New_York"
    session.commit()
    auth.login("ada")
    response = client.get("/reports/queues?from=2026-11-23&to=2026-11-23&interval=hour")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    eleven = _cells(html, str(queue.id), "2026-11-23T11:00:00-05:00")
    assert (eleven["offered"], eleven["answered"], eleven["abandoned"], eleven["service_level"]) == \
        ("3", "2", "1", "33.3")
    assert _cells(html, str(queue.id), "2026-11-23T14:00:00-05:00")["service_level"] == "100.0"
    assert html.count("<svg") == 2 and "<script" not in html.split("<main", 1)[1]
    bars = html.split("<svg", 2)[1]
    assert bars.count("<rect") == 24 and 'data-value="3"' in bars and 'data-value="1"' in bars
    assert 'href="/reports"' in html or "href=\"/reports\"" in html


def test_every_table_exports_as_csv(client, auth, session, factory):
    """The CSV of the agent report holds the page's rows: Amy answered 3 calls on the day."""
    _, amy = _calls(session, factory)
    auth.login("amy")
    response = client.get("/reports/agents.csv?from=2026-11-23&to=2026-11-23&interval=day")
    assert response.mimetype == "text/csv"
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    assert [(r["group_name"], r["answered"]) for r in rows] == [(amy.full_name, "3"), ("All", "3")]
    for kind in ("queues", "teams", "campaigns"):
        assert client.get(f"/reports/{kind}.csv?from=2026-11-23").mimetype == "text/csv"


def test_unreadable_parameters_are_explained(client, auth, session, factory):
    factory.user(role="admin", username="ada")
    auth.login("ada")
    response = client.get("/reports/queues?from=soon")
    assert response.status_code == 400 and "YYYY-MM-DD" in response.get_data(as_text=True)
    assert client.get("/reports/queues.csv?interval=fortnight").status_code == 400
    assert client.get("/reports/nothing").status_code == 404


def test_a_scheduled_report_is_mailed_once_per_period(app, client, auth, session, factory):
    """Amy schedules her daily agent report. The job run on 2026-11-24 mails 2026-11-23's (an .eml in the outbox,
    the CSV attached, her 3 calls in it); run again it mails nothing."""
    _, amy = _calls(session, factory)
    amy.time_zone = "America/New_York"
    session.commit()
    auth.login("amy")
    response = client.post("/reports/schedules", data={"kind": "agents", "every": "day", "interval": "day",
                                                      "email": "amy@example.com"})
    assert response.status_code == 302
    schedule = session.query(ReportSchedule).one()
    assert (schedule.owner_id, schedule.kind) == (amy.id, "agents")

    now = datetime(2026, 11, 24, 9, 0, tzinfo=UTC).isoformat()
    assert report_jobs.send_scheduled_reports(now) == [schedule.id]
    assert report_jobs.send_scheduled_reports(now) == []
    outbox = Path(app.instance_path) / "outbox"
    mailed = email.message_from_bytes((outbox / f"report-{schedule.id}-2026-11-23.eml").read_bytes())
    assert mailed["To"] == "amy@example.com"
    attachment = next(part for part in mailed.walk() if part.get_filename())
    rows = list(csv.DictReader(io.StringIO(attachment.get_payload(decode=True).decode())))
    assert [(r["group_name"], r["answered"]) for r in rows] == [(amy.full_name, "3"), ("All", "3")]


def test_a_bad_schedule_is_refused_and_others_schedules_are_not_yours(client, auth, session, factory):
    amy = factory.user(username="amy")
    factory.user(username="bob")
    session.add(ReportSchedule(owner_id=amy.id, kind="queues", every="day", interval="hour", email="a@example.com"))
    session.commit()
    auth.login("bob")
    assert client.post("/reports/schedules", data={"kind": "agents", "every": "day", "interval": "day",
                                                   "email": "not an address"}).status_code == 422
    assert "a@example.com" not in client.get("/reports/schedules").get_data(as_text=True)
    schedule_id = session.query(ReportSchedule).one().id
    assert client.post(f"/reports/schedules/{schedule_id}/delete").status_code == 404


def test_the_ticker_enqueues_the_scheduled_reports_once_a_quarter_hour(app):
    r = app.extensions["callcenter.redis"]
    now = NOON.timestamp()
    assert report_jobs.schedule_reports(app, r, now) is True
    assert report_jobs.schedule_reports(app, r, now + 60) is False
    assert report_jobs.schedule_reports(app, r, now + 900) is True


def test_the_wallboard_and_report_pages_count_the_same_calls_today(app, client, auth, session, factory):
    """Amy's queue report for today, and the wallboard's Support tile, both count 3 offered at 11:00's day."""
    from callcenter.services import wallboard

    queue, _ = _calls(session, factory)
    admin = factory.user(role="admin", username="ada")
    admin.time_zone = "America/New_York"
    session.commit()
    board = wallboard.snapshot(session, app.extensions["callcenter.redis"], now=NOON.timestamp(), viewer=admin)
    tile = next(q for q in board["queues"] if q["queue_id"] == queue.id)
    auth.login("ada")
    html = client.get("/reports/queues?from=2026-11-23&to=2026-11-23&interval=day").get_data(as_text=True)
    row = _cells(html, str(queue.id), "2026-11-23T00:00:00-05:00")
    assert (row["offered"], row["answered"], row["service_level"]) == \
        (str(tile["offered"]), str(tile["answered"]), str(tile["service_level"]))
    assert session.query(Call).count() == 4
