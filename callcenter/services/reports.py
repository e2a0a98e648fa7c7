"""Historical reports by queue, team, agent and campaign, per 15 minutes / hour / day / week in the viewer's time
zone: rows loaded in a few batch queries, figures from services.metrics (the functions the wallboard uses).

A call belongs to the period in which it entered a queue; an agent's time is cut at each period's edges; a
callback belongs to the period it was due in; a campaign dial to the period it was placed in. Scope: an agent's
reports cover their own calls and time; a supervisor's agent and team reports cover their team; queue and
campaign reports of supervisors and admins cover everything, as the wallboard does.
"""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import ColumnElement, and_, func, select, true
from sqlalchemy.orm import Session

from callcenter.models import (
    AgentStateChange,
    Call,
    Callback,
    CallEvent,
    Campaign,
    DialAttempt,
    Queue,
    Role,
    Team,
    User,
)
from callcenter.services import metrics, scope
from callcenter.services.errors import DomainError, Forbidden, ValidationFailed
from callcenter.services.messages import t
from callcenter.services.metrics import CallRecord, Thresholds

KINDS = ("queues", "teams", "agents", "campaigns")
MAX_PERIODS = 1000  # 10 days of quarter hours, 41 days of hours: more rows than anyone reads at once
MIN_YEAR, MAX_YEAR = 2000, 2200  # FCR looks days past the end: keep far from datetime's limits
ID_BATCH = 500
CALL_COLUMNS = ("offered", "answered", "abandoned", "short_abandoned", "service_level", "abandon_rate",
                "asa_seconds", "aht_seconds", "fcr_rate", "transfers", "callbacks_due", "callbacks_kept")
AGENT_COLUMNS = ("occupancy", "utilisation", "logged_in_seconds", "handling_seconds")
CAMPAIGN_COLUMNS = ("dials", "live_answers", "machines", "abandoned", "abandon_rate")
KEY_COLUMNS = ("period_start", "period_end", "group_id", "group_name")


class BadReportRequest(DomainError):
    """A report asked for with parameters we cannot read (400)."""


@dataclass(frozen=True)
class ReportQuery:
    start: datetime
    end: datetime
    interval: str
    zone: ZoneInfo


def zone_of(name: str | None) -> ZoneInfo:
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def _moment(raw: str, zone: ZoneInfo, field: str, inclusive_day: bool) -> datetime:
    """YYYY-MM-DD (a day in `zone`; as an end, the day is included) or an ISO date-time (no offset: in `zone`)."""
    text = raw.strip()
    try:
        if len(text) == 10:
            day = datetime.strptime(text, "%Y-%m-%d").date()
            return datetime.combine(day + timedelta(days=1 if inclusive_day else 0), time(), zone)
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise BadReportRequest(t("Write %(field)s as YYYY-MM-DD or an ISO date and time (%(value)s)",
                                 field=field, value=text[:40]), field=field) from None
    return moment.replace(tzinfo=zone) if moment.tzinfo is None else moment


def parse_query(raw_from: str | None, raw_to: str | None, interval: str | None, zone: ZoneInfo,
                now: datetime | None = None) -> ReportQuery:
    """The report's period from request parameters; defaults: today in `zone`, by hour. BadReportRequest (400)
    for anything unreadable; ValidationFailed (422) for a readable period we refuse: empty, out of range, or
    with too many intervals (the API's convention: 422 is a well-formed request the domain refuses)."""
    interval = (interval or "hour").strip()
    if interval not in metrics.INTERVALS:
        raise BadReportRequest(t("interval is one of %(values)s", values=", ".join(metrics.INTERVALS)),
                               field="interval")
    today = (now or datetime.now(UTC)).astimezone(zone).date()
    start = _moment(raw_from, zone, "from", False) if raw_from else datetime.combine(today, time(), zone)
    if raw_to:
        end = _moment(raw_to, zone, "to", True)
    elif start.year < MAX_YEAR:
        end = start + timedelta(days=1)
    else:
        end = start
    for name, moment in (("from", start), ("to", end)):
        if not MIN_YEAR <= moment.year <= MAX_YEAR:
            raise ValidationFailed(t("%(field)s must be between the years %(min)d and %(max)d",
                                     field=name, min=MIN_YEAR, max=MAX_YEAR), field=name)
    if end <= start:
        raise ValidationFailed(t("to must come after from"), field="to")
    step = {"15m": 900, "hour": 3600, "day": 86400, "week": 7 * 86400}[interval]
    if (end - start).total_seconds() / step > MAX_PERIODS:
        raise ValidationFailed(t("At most %(max)d intervals: choose a longer interval or a shorter period",
                                 max=MAX_PERIODS), field="interval")
    return ReportQuery(start=start, end=end, interval=interval, zone=zone)


# --- loading rows, in batches -----------------------------------------------------------------------------------

def _batches(ids: Sequence[int]) -> Iterable[Sequence[int]]:
    for i in range(0, len(ids), ID_BATCH):
        yield ids[i:i + ID_BATCH]


def load_calls(session: Session, start: datetime, end: datetime,
               condition: ColumnElement[bool] | None = None) -> list[CallRecord]:
    """The calls that entered a queue in [start, end) and match `condition`, with the facts of their events:
    two queries per 500 calls, whatever the number of events."""
    rows = session.execute(
        select(Call.id, Call.queue_id, Call.agent_id, Call.contact_id, Call.from_number, Call.direction,
               Call.to_number, Call.enqueued_at, Call.agent_answered_at, Call.ended_at, Call.wrap_up_started_at,
               Call.wrap_up_ended_at, Call.hold_seconds, Call.campaign_id, User.team_id)
        .outerjoin(User, User.id == Call.agent_id)
        .where(Call.enqueued_at.is_not(None), Call.enqueued_at >= start, Call.enqueued_at < end,
               condition if condition is not None else true())
    ).all()
    ids = [row.id for row in rows]
    by_choice: set[int] = set()
    transfers: dict[int, int] = defaultdict(int)
    for batch in _batches(ids):
        for call_id, kind in session.execute(
                select(CallEvent.call_id, CallEvent.kind).where(
                    CallEvent.call_id.in_(batch),
                    CallEvent.kind.in_(metrics.LEFT_BY_CHOICE + metrics.TRANSFER_KINDS))):
            if kind in metrics.LEFT_BY_CHOICE:
                by_choice.add(call_id)
            else:
                transfers[call_id] += 1
    records = []
    for row in rows:
        caller = row.from_number if row.direction == "inbound" else row.to_number
        key = f"contact:{row.contact_id}" if row.contact_id is not None else (f"number:{caller}" if caller else None)
        records.append(CallRecord(
            call_id=row.id, queue_id=row.queue_id, agent_id=row.agent_id, contact_key=key,
            enqueued_at=row.enqueued_at, agent_answered_at=row.agent_answered_at, ended_at=row.ended_at,
            wrap_up_started_at=row.wrap_up_started_at, wrap_up_ended_at=row.wrap_up_ended_at,
            hold_seconds=row.hold_seconds or 0, left_by_choice=row.id in by_choice, transfers=transfers[row.id],
            campaign_id=row.campaign_id, team_id=row.team_id))
    return records


def load_state_changes(session: Session, start: datetime, end: datetime,
                       agents: ColumnElement[bool]) -> list[metrics.StateChange]:
    """Agent state changes in [start, end), plus each agent's last one before `start` (the state they were in)."""
    visible = select(User.id).where(agents).scalar_subquery()
    last_before = (select(AgentStateChange.agent_id, func.max(AgentStateChange.occurred_at).label("at"))
                   .where(AgentStateChange.occurred_at < start, AgentStateChange.agent_id.in_(visible))
                   .group_by(AgentStateChange.agent_id).subquery())
    opening = session.execute(
        select(AgentStateChange.agent_id, AgentStateChange.to_state, AgentStateChange.occurred_at)
        .join(last_before, and_(last_before.c.agent_id == AgentStateChange.agent_id,
                                last_before.c.at == AgentStateChange.occurred_at))).all()
    inside = session.execute(
        select(AgentStateChange.agent_id, AgentStateChange.to_state, AgentStateChange.occurred_at)
        .where(AgentStateChange.occurred_at >= start, AgentStateChange.occurred_at < end,
               AgentStateChange.agent_id.in_(visible))).all()
    return [metrics.StateChange(a, s, o) for a, s, o in [*opening, *inside]]


def load_callbacks(session: Session, start: datetime, end: datetime,
                   condition: ColumnElement[bool]) -> list[tuple[metrics.CallbackRecord, int | None]]:
    """Callbacks due in [start, end), each with its agent's team."""
    rows = session.execute(
        select(Callback.queue_id, Callback.agent_id, Callback.due_at, Callback.status, User.team_id)
        .outerjoin(User, User.id == Callback.agent_id)
        .where(Callback.due_at >= start, Callback.due_at < end, condition)).all()
    return [(metrics.CallbackRecord(q, a, d, s), team) for q, a, d, s, team in rows]


def load_dials(session: Session, start: datetime, end: datetime,
               condition: ColumnElement[bool]) -> list[metrics.DialRecord]:
    """Allowed campaign dial attempts placed in [start, end)."""
    rows = session.execute(
        select(DialAttempt.campaign_id, DialAttempt.at, DialAttempt.outcome)
        .where(DialAttempt.allowed.is_(True), DialAttempt.campaign_id.is_not(None), DialAttempt.at >= start,
               DialAttempt.at < end, condition)).all()
    return [metrics.DialRecord(c, a, o) for c, a, o in rows]


# --- figures ----------------------------------------------------------------------------------------------------

def call_columns(calls: Sequence[CallRecord], thresholds: Thresholds, later: Sequence[CallRecord],
                 callbacks: Sequence[metrics.CallbackRecord]) -> dict[str, Any]:
    """The call and callback columns of one row."""
    figures = metrics.call_figures(calls, thresholds, later)
    kept = metrics.callback_figures(callbacks)
    return {**{name: getattr(figures, name) for name in CALL_COLUMNS[:10]},
            "callbacks_due": kept.due, "callbacks_kept": kept.kept}


def queue_day_figures(session: Session, queue: Queue, start: datetime, end: datetime,
                      thresholds: Thresholds) -> metrics.CallFigures:
    """One queue's call figures over [start, end): what the wallboard shows for today, and what a queue report
    row for the same period holds (both through this function)."""
    later = load_calls(session, start, end + timedelta(days=thresholds.fcr_days), Call.queue_id == queue.id)
    calls = [c for c in later if c.enqueued_at < end]
    return metrics.call_figures(calls, _queue_thresholds(thresholds, queue), later)


def _queue_thresholds(base: Thresholds, queue: Queue) -> Thresholds:
    return Thresholds(service_level_seconds=queue.service_level_seconds,
                      short_abandon_seconds=base.short_abandon_seconds, fcr_days=base.fcr_days)


def _period_key(moment: datetime, query: ReportQuery) -> datetime:
    """The period's start in UTC (local times in a repeated DST hour compare equal; UTC ones do not)."""
    return metrics.period_start(moment, query.interval, query.zone).astimezone(UTC)


def _rows(query: ReportQuery, names: Mapping[Any, str],
          build: Any, keys_with_data: Mapping[datetime, set[Any]]) -> list[dict[str, Any]]:
    """One row per period and group that had anything in it, then the period's total (group_id and group_name
    None: the edges label it "All")."""
    out = []
    for p_from, p_to in metrics.periods(query.start, query.end, query.interval, query.zone):
        key = _period_key(p_from, query)
        groups = sorted(keys_with_data.get(key, set()), key=lambda g: (names.get(g) or "", g))
        for group in [*groups, None]:
            out.append({"period_start": p_from.isoformat(), "period_end": p_to.isoformat(), "group_id": group,
                        "group_name": names.get(group) if group is not None else None,
                        **build(key, p_from, p_to, group)})
    return out


def _is_manager(viewer: User) -> bool:
    return viewer.role in (Role.SUPERVISOR.value, Role.ADMIN.value)


class _Grouped:
    """Records by (period, group), and the groups each period holds (a None group counts only in totals)."""

    def __init__(self, query: ReportQuery) -> None:
        self.query = query
        self.by: dict[tuple[datetime, Any], list[Any]] = defaultdict(list)
        self.keys: dict[datetime, set[Any]] = defaultdict(set)

    def add(self, moment: datetime, group: Any, record: Any) -> None:
        key = _period_key(moment, self.query)
        self.by[(key, group)].append(record)
        self.mark(key, group)

    def mark(self, key: datetime, group: Any) -> None:
        if group is not None:
            self.keys[key].add(group)

    def of(self, key: datetime, group: Any) -> list[Any]:
        """The group's records of the period; with group None, every record of the period."""
        if group is not None:
            return self.by.get((key, group), [])
        return [r for (k, _g), records in self.by.items() if k == key for r in records]


def queue_report(session: Session, viewer: User, query: ReportQuery, thresholds: Thresholds) -> list[dict[str, Any]]:
    """Per period and queue: the call metrics, and callbacks kept."""
    condition = None if _is_manager(viewer) else scope.calls(viewer)
    later = load_calls(session, query.start, query.end + timedelta(days=thresholds.fcr_days), condition)
    callbacks = load_callbacks(session, query.start, query.end,
                               true() if _is_manager(viewer) else scope.callbacks(viewer))
    queues = {q.id: q for q in session.scalars(select(Queue))}
    calls, kept = _Grouped(query), _Grouped(query)
    for c in later:
        if c.enqueued_at < query.end:
            calls.add(c.enqueued_at, c.queue_id, c)
    for cb, _team in callbacks:
        kept.add(cb.due_at, cb.queue_id, cb)
        calls.mark(_period_key(cb.due_at, query), cb.queue_id)

    def build(key: datetime, p_from: datetime, p_to: datetime, group: Any) -> dict[str, Any]:
        rules = _queue_thresholds(thresholds, queues[group]) if group is not None else thresholds
        return call_columns(calls.of(key, group), rules, later, kept.of(key, group))

    return _rows(query, {q.id: q.name for q in queues.values()}, build, calls.keys)


def _people_report(session: Session, viewer: User, query: ReportQuery, thresholds: Thresholds,
                   by_team: bool) -> list[dict[str, Any]]:
    people = scope.users(viewer)
    visible = select(User.id).where(people).scalar_subquery()
    users = {u.id: u for u in session.scalars(select(User).where(people))}
    later = load_calls(session, query.start, query.end + timedelta(days=thresholds.fcr_days))
    callbacks = load_callbacks(session, query.start, query.end, Callback.agent_id.in_(visible))
    changes = load_state_changes(session, query.start, query.end, people)

    def group_of(agent_id: int | None, team_id: int | None = None) -> Any:
        if not by_team:
            return agent_id
        return team_id if team_id is not None else (users[agent_id].team_id if agent_id in users else None)

    calls, kept = _Grouped(query), _Grouped(query)
    for c in later:
        if c.enqueued_at < query.end and c.agent_id in users:
            calls.add(c.enqueued_at, group_of(c.agent_id, c.team_id), c)
    for cb, team in callbacks:
        kept.add(cb.due_at, group_of(cb.agent_id, team), cb)
        calls.mark(_period_key(cb.due_at, query), group_of(cb.agent_id, team))
    spent_by_period: dict[datetime, dict[int, Any]] = {}
    for p_from, p_to in metrics.periods(query.start, query.end, query.interval, query.zone):
        key = _period_key(p_from, query)
        spent_by_period[key] = metrics.state_seconds(changes, p_from, p_to)
        for agent_id, counter in spent_by_period[key].items():
            if any(counter.get(s) for s in metrics.LOGGED_IN_STATES):
                calls.mark(key, group_of(agent_id))
    if by_team:
        names = {team.id: team.name for team in session.scalars(select(Team))}
    else:
        names = {u.id: u.full_name for u in users.values()}

    def build(key: datetime, p_from: datetime, p_to: datetime, group: Any) -> dict[str, Any]:
        spent = [v for a, v in spent_by_period[key].items() if group is None or group_of(a) == group]
        time_ = metrics.agent_time(spent)
        return {**call_columns(calls.of(key, group), thresholds, later, kept.of(key, group)),
                **{name: getattr(time_, name) for name in AGENT_COLUMNS}}

    return _rows(query, names, build, calls.keys)


def agent_report(session: Session, viewer: User, query: ReportQuery, thresholds: Thresholds) -> list[dict[str, Any]]:
    """Per period and agent (the viewer's scope): call metrics of the calls they answered, their time."""
    return _people_report(session, viewer, query, thresholds, by_team=False)


def team_report(session: Session, viewer: User, query: ReportQuery, thresholds: Thresholds) -> list[dict[str, Any]]:
    """Per period and team: the agent report's figures over each team."""
    return _people_report(session, viewer, query, thresholds, by_team=True)


def campaign_report(session: Session, viewer: User, query: ReportQuery,
                    thresholds: Thresholds | None = None) -> list[dict[str, Any]]:
    """Per period and campaign: dials, live answers, machines, abandoned and abandon rate. An agent sees the
    dials they placed themselves (preview dialing)."""
    if not viewer.active:
        raise Forbidden(t("You may not do this"))
    condition = true() if _is_manager(viewer) else DialAttempt.actor_id == viewer.id
    dials = _Grouped(query)
    for d in load_dials(session, query.start, query.end, condition):
        dials.add(d.at, d.campaign_id, d)
    names = {c.id: c.name for c in session.scalars(select(Campaign))}

    def build(key: datetime, p_from: datetime, p_to: datetime, group: Any) -> dict[str, Any]:
        return asdict(metrics.campaign_figures(dials.of(key, group)))

    return _rows(query, names, build, dials.keys)


REPORTS = {"queues": queue_report, "teams": team_report, "agents": agent_report, "campaigns": campaign_report}


def columns(kind: str) -> tuple[str, ...]:
    if kind == "campaigns":
        return KEY_COLUMNS + CAMPAIGN_COLUMNS
    if kind in ("agents", "teams"):
        return KEY_COLUMNS + CALL_COLUMNS + AGENT_COLUMNS
    return KEY_COLUMNS + CALL_COLUMNS


def run(session: Session, viewer: User, kind: str, query: ReportQuery, thresholds: Thresholds) -> list[dict[str, Any]]:
    if kind not in REPORTS:
        raise BadReportRequest(t("A report is one of %(values)s", values=", ".join(KINDS)), field="kind")
    return REPORTS[kind](session, viewer, query, thresholds)


def with_total_label(rows: Iterable[Mapping[str, Any]], label: str) -> list[dict[str, Any]]:
    """The rows with the periods' totals named `label` ("All" in the reader's language)."""
    return [{**row, "group_name": row["group_name"] if row["group_id"] is not None else label} for row in rows]


def to_csv(kind: str, rows: Iterable[Mapping[str, Any]]) -> str:
    """The rows as CSV, one column per figure, empty where a figure has no value."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=columns(kind), extrasaction="ignore")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: "" if v is None else v for k, v in row.items()})
    return out.getvalue()
