"""Contact-center figures as pure functions over event rows: the one set of formulas behind the wallboard and the
reports, so the two cannot disagree for the same period.

Nothing here reads a database, Redis or a clock: callers load the rows (services.reports does it in a few
batch queries per page or job, never per event) and pass them in. Every formula is written in docs/metrics.md under
the version `METRICS_VERSION`; change a formula and you bump the version there and here.

Percentages are 0-100 rounded to one decimal, durations are seconds rounded to one decimal, and a ratio over an
empty base is None (nothing to measure), never 0.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta, tzinfo
from typing import Any

METRICS_VERSION = "1.0"

# A caller who left this way did not abandon: they chose another way to be served.
LEFT_BY_CHOICE = ("callback_requested", "voicemail")
TRANSFER_KINDS = ("transferred",)
HANDLING_STATES = ("on_call", "wrap_up")
STAFFED_STATES = ("available", "reserved", "on_call", "wrap_up")  # ready for, or busy with, calls
LOGGED_IN_STATES = (*STAFFED_STATES, "away")  # everything but offline
LIVE_OUTCOMES = ("answered", "abandoned")  # a person picked up a campaign call


@dataclass(frozen=True)
class Thresholds:
    """The settings a formula depends on; the wallboard and the reports must be given the same ones."""

    service_level_seconds: int = 20
    short_abandon_seconds: int = 5
    fcr_days: int = 7

    @classmethod
    def from_config(cls, config: Mapping[str, Any], service_level_seconds: int | None = None) -> Thresholds:
        """From the settings REPORT_SHORT_ABANDON_SECONDS and REPORT_FCR_DAYS (a queue has its own SL threshold)."""
        return cls(service_level_seconds=20 if service_level_seconds is None else int(service_level_seconds),
                   short_abandon_seconds=int(config.get("REPORT_SHORT_ABANDON_SECONDS", 5)),
                   fcr_days=int(config.get("REPORT_FCR_DAYS", 7)))


@dataclass(frozen=True)
class CallRecord:
    """What the formulas need of one call: its row's phase times, and facts read from its events."""

    call_id: int
    queue_id: int | None
    agent_id: int | None
    contact_key: str | None  # the contact id, else the caller's number: who would call again
    enqueued_at: datetime | None
    agent_answered_at: datetime | None = None
    ended_at: datetime | None = None
    wrap_up_started_at: datetime | None = None
    wrap_up_ended_at: datetime | None = None
    hold_seconds: int = 0
    left_by_choice: bool = False  # a callback_requested or voicemail event
    transfers: int = 0  # transferred events
    campaign_id: int | None = None
    team_id: int | None = None


@dataclass(frozen=True)
class StateChange:
    """One row of the agent state log."""

    agent_id: int
    to_state: str
    occurred_at: datetime


@dataclass(frozen=True)
class CallbackRecord:
    queue_id: int | None
    agent_id: int | None
    due_at: datetime
    status: str


@dataclass(frozen=True)
class DialRecord:
    """An allowed dial attempt of a campaign and its outcome (None while ringing)."""

    campaign_id: int | None
    at: datetime
    outcome: str | None


def _seconds(delta: timedelta) -> float:
    return delta.total_seconds()


def _pct(part: float, whole: float) -> float | None:
    return round(100 * part / whole, 1) if whole else None


def _mean(values: Sequence[float]) -> float | None:
    return round(sum(values) / len(values), 1) if values else None


def offered(calls: Iterable[CallRecord]) -> list[CallRecord]:
    """Calls that entered a queue."""
    return [c for c in calls if c.enqueued_at is not None]


def answered(calls: Iterable[CallRecord]) -> list[CallRecord]:
    """Offered calls an agent answered."""
    return [c for c in offered(calls) if c.agent_answered_at is not None]


def abandons(calls: Iterable[CallRecord], short_abandon_seconds: int) -> tuple[list[CallRecord], list[CallRecord]]:
    """(abandoned, short abandons): offered calls that ended unanswered and not by choice, split by whether the
    caller waited at least `short_abandon_seconds` (a shorter hang-up is a misdial more than a lost customer)."""
    gone = [c for c in offered(calls) if c.agent_answered_at is None and c.ended_at is not None
            and not c.left_by_choice]
    short = [c for c in gone if _seconds(c.ended_at - c.enqueued_at) < short_abandon_seconds]
    return [c for c in gone if _seconds(c.ended_at - c.enqueued_at) >= short_abandon_seconds], short


def waits(calls: Iterable[CallRecord]) -> list[float]:
    """Seconds from entering the queue to an agent answering, per answered call."""
    return [_seconds(c.agent_answered_at - c.enqueued_at) for c in answered(calls)]


def handle_seconds(call: CallRecord) -> float | None:
    """talk + hold + wrap-up of one answered, ended call: (ended - answered) already holds talk and hold;
    wrap-up counts once it ended. None while the call is not answered or not over."""
    if call.agent_answered_at is None or call.ended_at is None:
        return None
    connected = max(_seconds(call.ended_at - call.agent_answered_at), 0.0)
    wrap = 0.0
    if call.wrap_up_started_at is not None and call.wrap_up_ended_at is not None:
        wrap = max(_seconds(call.wrap_up_ended_at - call.wrap_up_started_at), 0.0)
    return connected + wrap


def first_contact_resolutions(period_calls: Iterable[CallRecord], later_calls: Iterable[CallRecord],
                              days: int) -> tuple[int, int]:
    """(resolved, base): base = answered calls with a known contact; resolved = those not followed by another
    offered call from the same contact on the same queue within `days` days after they entered the queue.
    `later_calls` must hold every offered call up to `days` after the period (the period's own included)."""
    followers: dict[tuple[int | None, str], list[datetime]] = defaultdict(list)
    for c in offered(later_calls):
        if c.contact_key is not None:
            followers[(c.queue_id, c.contact_key)].append(c.enqueued_at)
    window = timedelta(days=days)
    base = [c for c in answered(period_calls) if c.contact_key is not None]
    resolved = [c for c in base
                if not any(c.enqueued_at < t <= c.enqueued_at + window
                           for t in followers[(c.queue_id, c.contact_key)])]
    return len(resolved), len(base)


@dataclass(frozen=True)
class CallFigures:
    """The call metrics of one group (a queue, a team, an agent) over one period."""

    offered: int
    answered: int
    within_sl: int
    abandoned: int
    short_abandoned: int
    service_level: float | None
    abandon_rate: float | None
    asa_seconds: float | None
    aht_seconds: float | None
    handled: int
    fcr_rate: float | None
    transfers: int


def call_figures(calls: Sequence[CallRecord], thresholds: Thresholds,
                 later_calls: Sequence[CallRecord] | None = None) -> CallFigures:
    """Every call metric of docs/metrics.md over `calls` (the group's calls of the period)."""
    offer = offered(calls)
    took = answered(calls)
    abandoned_, short = abandons(calls, thresholds.short_abandon_seconds)
    within = [w for w in waits(calls) if w <= thresholds.service_level_seconds]
    handled = [s for s in (handle_seconds(c) for c in calls) if s is not None]
    resolved, base = first_contact_resolutions(calls, later_calls if later_calls is not None else calls,
                                               thresholds.fcr_days)
    counted = len(offer) - len(short)
    return CallFigures(
        offered=len(offer),
        answered=len(took),
        within_sl=len(within),
        abandoned=len(abandoned_),
        short_abandoned=len(short),
        service_level=_pct(len(within), counted),
        abandon_rate=_pct(len(abandoned_), counted),
        asa_seconds=_mean(waits(calls)),
        aht_seconds=_mean(handled),
        handled=len(handled),
        fcr_rate=_pct(resolved, base),
        transfers=sum(c.transfers for c in calls),
    )


def state_seconds(changes: Iterable[StateChange], start: datetime, end: datetime) -> dict[int, Counter[str]]:
    """Seconds each agent spent in each state within [start, end). Each agent's changes must include the last one
    before `start` (the state they were in when the period began); the last state lasts until `end`."""
    per_agent: dict[int, list[StateChange]] = defaultdict(list)
    for change in changes:
        per_agent[change.agent_id].append(change)
    out: dict[int, Counter[str]] = {}
    for agent_id, rows in per_agent.items():
        rows.sort(key=lambda c: c.occurred_at)
        spent: Counter[str] = Counter()
        for current, following in zip(rows, [*rows[1:], None], strict=True):
            begin = max(current.occurred_at, start)
            finish = min(following.occurred_at if following else end, end)
            if finish > begin:
                spent[current.to_state] += _seconds(finish - begin)
        out[agent_id] = spent
    return out


@dataclass(frozen=True)
class AgentTime:
    """Occupancy and utilisation of a group of agents over one period."""

    logged_in_seconds: float
    staffed_seconds: float
    handling_seconds: float
    occupancy: float | None
    utilisation: float | None


def agent_time(spent: Iterable[Mapping[str, float]]) -> AgentTime:
    """occupancy = handling / staffed; utilisation = handling / logged in (see docs/metrics.md)."""
    total: Counter[str] = Counter()
    for counter in spent:
        total.update(counter)
    handling = sum(total[s] for s in HANDLING_STATES)
    staffed = sum(total[s] for s in STAFFED_STATES)
    logged_in = sum(total[s] for s in LOGGED_IN_STATES)
    return AgentTime(logged_in_seconds=round(logged_in, 1), staffed_seconds=round(staffed, 1),
                     handling_seconds=round(handling, 1), occupancy=_pct(handling, staffed),
                     utilisation=_pct(handling, logged_in))


@dataclass(frozen=True)
class CallbackFigures:
    due: int
    kept: int
    kept_rate: float | None


def callback_figures(callbacks: Iterable[CallbackRecord]) -> CallbackFigures:
    """Of the callbacks due in the period (cancelled ones left out), how many were completed."""
    due = [c for c in callbacks if c.status != "cancelled"]
    kept = [c for c in due if c.status == "completed"]
    return CallbackFigures(due=len(due), kept=len(kept), kept_rate=_pct(len(kept), len(due)))


@dataclass(frozen=True)
class CampaignFigures:
    dials: int
    live_answers: int
    machines: int
    abandoned: int
    abandon_rate: float | None


def campaign_figures_from_counts(outcomes: Mapping[str | None, int]) -> CampaignFigures:
    """From allowed attempts counted by outcome: dials = all; live = answered + abandoned (a person picked up);
    abandon rate = abandoned / live as a fraction (0-1, four decimals), as the campaign's cap is written. The
    wallboard's rolling-window figures (services.dialer) use this too."""
    live = sum(outcomes.get(o, 0) for o in LIVE_OUTCOMES)
    abandoned_ = outcomes.get("abandoned", 0)
    return CampaignFigures(dials=sum(outcomes.values()), live_answers=live, machines=outcomes.get("machine", 0),
                           abandoned=abandoned_, abandon_rate=round(abandoned_ / live, 4) if live else None)


def campaign_figures(dials: Iterable[DialRecord]) -> CampaignFigures:
    return campaign_figures_from_counts(Counter(d.outcome for d in dials))


INTERVALS = ("15m", "hour", "day", "week")


def period_start(moment: datetime, interval: str, zone: tzinfo) -> datetime:
    """The start of the `interval` holding `moment`, on the wall clock of `zone` (weeks start on Monday)."""
    local = moment.astimezone(zone)
    if interval == "15m":
        local = local.replace(minute=local.minute - local.minute % 15, second=0, microsecond=0)
    elif interval == "hour":
        local = local.replace(minute=0, second=0, microsecond=0)
    elif interval in ("day", "week"):
        day = local.date() - timedelta(days=local.weekday() if interval == "week" else 0)
        local = datetime.combine(day, time(0), tzinfo=zone)
    else:
        raise ValueError(f"unknown interval {interval!r}")
    return local


def periods(start: datetime, end: datetime, interval: str, zone: tzinfo) -> list[tuple[datetime, datetime]]:
    """The [from, to) periods covering [start, end), each cut to it, in `zone`'s wall clock."""
    step = {"15m": timedelta(minutes=15), "hour": timedelta(hours=1), "day": timedelta(days=1),
            "week": timedelta(weeks=1)}[interval]
    out = []
    cursor = period_start(start, interval, zone)
    while cursor.astimezone(UTC) < end.astimezone(UTC):
        following = (cursor + step).replace(fold=0)
        if interval in ("15m", "hour"):  # elapsed time, so a DST change neither skips nor doubles an hour
            following = (cursor.astimezone(UTC) + step).astimezone(zone)
        out.append((max(cursor, start.astimezone(zone)), min(following, end.astimezone(zone))))
        cursor = following
    return out
