"""/api/v1/reports: the same figures as the live wallboard for the same period, scope, CSV, and refused input."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from callcenter.models import AgentStateChange, Campaign, DialAttempt, Queue
from callcenter.services import calls, wallboard
from callcenter.services.metrics import Thresholds
from tests.api.conftest import assert_error

NOON = datetime(2026, 11, 23, 17, 0, tzinfo=UTC)  # noon in New York
DAY = "2026-11-23"
SHARED = ("offered", "answered", "abandoned", "short_abandoned", "service_level", "abandon_rate", "asa_seconds",
          "aht_seconds", "transfers")


def drive(session, queue: Queue, sid: str, caller: str, enqueued: datetime, *, answered_after: float | None = None,
          ended_after: float, wrap_up: float | None = None, agent_id: int | None = None,
          extra: tuple[str, ...] = ()) -> None:
    """One call through the event log as the webhooks append it: opened, enqueued, offered and answered,
    extra events, the carrier's `completed` callback, wrap-up; then derived as the job does."""
    call = calls.open_call(session, call_sid=sid, direction="inbound", from_number=caller, to_number="+18005550100",
                           occurred_at=enqueued - timedelta(seconds=20))
    call.queue_id = queue.id
    calls.record_event(session, call, "enqueued", {"queue_id": queue.id}, occurred_at=enqueued)
    if answered_after is not None:
        at = enqueued + timedelta(seconds=answered_after)
        call.agent_id = agent_id
        calls.record_event(session, call, "offered", {"agent_id": agent_id}, occurred_at=at - timedelta(seconds=2))
        calls.record_event(session, call, "agent_answered", {"agent_id": agent_id}, occurred_at=at)
    for kind in extra:
        calls.record_event(session, call, kind, {}, occurred_at=enqueued + timedelta(seconds=1))
    session.commit()
    ended = enqueued + timedelta(seconds=ended_after)
    calls.apply_status_callback(session, {"CallSid": sid, "CallStatus": "completed",
                                          "Timestamp": format_datetime(ended)}, ended)
    if wrap_up is not None:
        calls.record_event(session, call, "wrap_up_started", {}, occurred_at=ended)
        calls.record_event(session, call, "wrap_up_ended", {}, occurred_at=ended + timedelta(seconds=wrap_up))
        session.commit()
    calls.derive_calls(session, [call.id])


@pytest.fixture
def a_day_of_calls(session, factory):
    queue = Queue(name="Support", time_zone="America/New_York", service_level_seconds=20)
    other = Queue(name="Sales", time_zone="America/New_York")
    session.add_all([queue, other])
    session.commit()
    amy = factory.user(username="amy", team="North")
    t = NOON - timedelta(hours=1)
    drive(session, queue, "CA1", "+14155550101", t, answered_after=12, ended_after=312, wrap_up=30, agent_id=amy.id)
    drive(session, queue, "CA2", "+14155550102", t + timedelta(minutes=10), answered_after=45, ended_after=165,
          agent_id=amy.id, extra=("transferred",))
    drive(session, queue, "CA3", "+14155550103", t + timedelta(minutes=20), ended_after=40)   # abandoned
    drive(session, queue, "CA4", "+14155550104", t + timedelta(minutes=30), ended_after=2)    # short abandon
    drive(session, queue, "CA5", "+14155550105", t + timedelta(minutes=40), ended_after=60,
          extra=("callback_requested",))                                                       # left by choice
    drive(session, queue, "CA8", "+14155550101", t + timedelta(minutes=50), answered_after=5, ended_after=185,
          agent_id=amy.id)                                                                     # CA1's caller again
    drive(session, queue, "CA6", "+14155550106", t - timedelta(days=1), answered_after=3, ended_after=60,
          agent_id=amy.id)                                                                     # yesterday
    drive(session, other, "CA7", "+14155550107", t, answered_after=3, ended_after=60, agent_id=amy.id)
    return queue, amy


def test_the_live_wallboard_and_the_report_agree_for_the_same_period(app, client, session, admin, bearer,
                                                                      a_day_of_calls):
    """Support, 2026-11-23 in New York: offered 6 (CA1, 2, 3, 4, 5, 8; CA6 was yesterday, CA7 is Sales);
    answered 3 (waits 12, 45, 5); abandoned 1 (CA3, 40 s), short 1 (CA4, 2 s < 5 s), CA5 chose a callback;
    within 20 s: 2 → service level 100 x 2 / (6 - 1) = 40.0, abandon rate 100 x 1 / 5 = 20.0;
    ASA (12 + 45 + 5) / 3 = 20.666… → 20.7; AHT ((300 + 30) + 120 + 180) / 3 = 210.0; 1 transfer;
    FCR: CA1's caller called again 50 min later → 2 resolved of 3 = 66.7."""
    queue, _ = a_day_of_calls
    admin.time_zone = "America/New_York"
    session.commit()
    board = wallboard.snapshot(session, app.extensions["callcenter.redis"], now=NOON.timestamp(), viewer=admin,
                               thresholds=Thresholds.from_config(app.config))
    tile = next(q for q in board["queues"] if q["queue_id"] == queue.id)

    response = client.get(f"/api/v1/reports/queues?from={DAY}&to={DAY}&interval=day", headers=bearer(admin))
    assert response.status_code == 200, response.get_data(as_text=True)
    body = response.get_json()
    row = next(r for r in body["rows"] if r["group_id"] == queue.id)

    assert {k: row[k] for k in SHARED} == {k: tile[k] for k in SHARED}
    assert {k: row[k] for k in SHARED} == {
        "offered": 6, "answered": 3, "abandoned": 1, "short_abandoned": 1, "service_level": 40.0,
        "abandon_rate": 20.0, "asa_seconds": 20.7, "aht_seconds": 210.0, "transfers": 1}
    assert row["fcr_rate"] == 66.7
    assert body["time_zone"] == "America/New_York" and row["period_start"] == "2026-11-23T00:00:00-05:00"


@pytest.mark.usefixtures("a_day_of_calls")
def test_hourly_rows_and_the_csv_export(client, session, admin, bearer):
    """By hour in New York every Support call of the day entered 11:00-12:00 local: one Support row there
    (offered 6), the Sales row (CA7) and the hour's total, 7 offered. The CSV holds the same rows."""
    admin.time_zone = "America/New_York"
    session.commit()
    headers = bearer(admin)
    rows = client.get(f"/api/v1/reports/queues?from={DAY}&to={DAY}&interval=hour", headers=headers).get_json()["rows"]
    eleven = [r for r in rows if r["period_start"] == "2026-11-23T11:00:00-05:00"]
    assert {(r["group_name"], r["offered"]) for r in eleven} == {("Support", 6), ("Sales", 1), ("All", 7)}
    assert len([r for r in rows if r["group_id"] is None]) == 24

    response = client.get(f"/api/v1/reports/queues?from={DAY}&to={DAY}&interval=hour&format=csv", headers=headers)
    assert response.mimetype == "text/csv"
    table = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    assert [(r["group_name"], r["offered"]) for r in table if r["period_start"].startswith("2026-11-23T11")] == \
        [(r["group_name"], str(r["offered"])) for r in eleven]


def test_an_agent_sees_only_their_own_figures(client, session, factory, bearer, a_day_of_calls):
    """Amy answered CA1, CA2, CA8 (Support) and CA7 (Sales) today: 4 answered. Bob took nothing and sees
    only himself: his agent report has no row naming Amy, and his queue report counts no call."""
    _, amy = a_day_of_calls
    bob = factory.user(username="bob", team="North")
    session.add(AgentStateChange(agent_id=bob.id, from_state="offline", to_state="available",
                                 occurred_at=NOON - timedelta(hours=2)))
    session.commit()
    own = client.get(f"/api/v1/reports/agents?from={DAY}&to={DAY}&interval=day", headers=bearer(amy)).get_json()
    assert [(r["group_name"], r["answered"]) for r in own["rows"] if r["group_id"] is not None] == \
        [(amy.full_name, 4)]
    theirs = client.get(f"/api/v1/reports/agents?from={DAY}&to={DAY}&interval=day", headers=bearer(bob)).get_json()
    assert {r["group_id"] for r in theirs["rows"]} == {bob.id, None}
    queues = client.get(f"/api/v1/reports/queues?from={DAY}&to={DAY}&interval=day", headers=bearer(bob)).get_json()
    assert sum(r["offered"] for r in queues["rows"]) == 0


def test_campaign_report(client, session, admin, bearer):
    """Spring dialled 5 times on the day: answered, answered, abandoned, machine, no-answer →
    dials 5, live 3, machines 1, abandon rate 1 / 3 = 0.3333."""
    spring = Campaign(name="Spring")
    session.add(spring)
    session.commit()
    for n, outcome in enumerate(("answered", "answered", "abandoned", "machine", "no-answer")):
        session.add(DialAttempt(phone_e164=f"+1415555020{n}", path="predictive", allowed=True, campaign_id=spring.id,
                                at=NOON + timedelta(minutes=n), outcome=outcome))
    session.commit()
    body = client.get(f"/api/v1/reports/campaigns?from={DAY}&to={DAY}&interval=day",
                      headers=bearer(admin)).get_json()
    row = next(r for r in body["rows"] if r["group_id"] == spring.id)
    assert (row["dials"], row["live_answers"], row["machines"], row["abandoned"], row["abandon_rate"]) == \
        (5, 3, 1, 1, 0.3333)


@pytest.mark.parametrize(("query", "status", "field"), [
    ("interval=minute", 400, "interval"),
    ("from=yesterday", 400, "from"),
    ("from=2026-11-23&to=2026-13-01", 400, "to"),
    ("format=xml", 400, "format"),
    ("from=2026-11-23&to=2026-11-20", 422, "to"),
    ("from=2020-01-01&to=2026-01-01&interval=15m", 422, "interval"),
    ("from=1900-01-01", 422, "from"),
])
def test_unreadable_parameters_are_a_400_naming_them(client, admin, bearer, query, status, field):
    assert_error(client.get(f"/api/v1/reports/queues?{query}", headers=bearer(admin)), status, field)


def test_the_reports_are_in_the_openapi_document(client):
    paths = client.get("/api/v1/openapi.json").get_json()["paths"]
    for kind in ("queues", "agents", "campaigns"):
        operation = paths[f"/api/v1/reports/{kind}"]["get"]
        assert {p["name"] for p in operation["parameters"]} >= {"from", "to", "interval", "format"}
        assert set(operation["responses"]["200"]["content"]) == {"application/json", "text/csv"}
        assert "400" in operation["responses"]
