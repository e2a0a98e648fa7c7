"""Each formula of docs/metrics.md on a hand-computed fixture: the arithmetic is in each test's docstring."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from callcenter.services import metrics
from callcenter.services.metrics import CallbackRecord, CallRecord, DialRecord, StateChange, Thresholds

T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
RULES = Thresholds(service_level_seconds=20, short_abandon_seconds=5, fcr_days=7)
_ids = iter(range(1, 10_000))


def s(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def call(wait: float | None = None, *, ended: float | None = None, wrap: tuple[float, float] | None = None,
         queue: int = 1, agent: int | None = 7, contact: str | None = None, by_choice: bool = False,
         transfers: int = 0, at: float = 0) -> CallRecord:
    """A call that entered queue `queue` at T0+`at`, answered after `wait` seconds, ended at T0+`at`+`ended`."""
    return CallRecord(
        call_id=next(_ids), queue_id=queue, agent_id=agent if wait is not None else None, contact_key=contact,
        enqueued_at=s(at), agent_answered_at=s(at + wait) if wait is not None else None,
        ended_at=s(at + ended) if ended is not None else None,
        wrap_up_started_at=s(at + wrap[0]) if wrap else None, wrap_up_ended_at=s(at + wrap[1]) if wrap else None,
        left_by_choice=by_choice, transfers=transfers)


DAY = [
    call(10, ended=130, wrap=(130, 160)),   # answered in 10 s; 120 s connected + 30 s wrap-up
    call(20, ended=200),                    # answered in 20 s (= threshold: within); 180 s connected, no wrap-up
    call(50, ended=110, wrap=(110, 140)),   # answered in 50 s (late); 60 s connected + 30 s wrap-up
    call(40),                               # answered in 40 s, still talking: not handled yet
    call(None, ended=30),                   # abandoned after 30 s
    call(None, ended=3),                    # short abandon: hung up after 3 s
    call(None, ended=60, by_choice=True),   # asked for a callback: not abandoned
    call(None),                             # still waiting
]


def test_offered_answered_and_abandoned():
    """offered = 8 calls entered the queue; answered = 4 (waits 10, 20, 50, 40);
    abandoned = 1 (the 30 s one; the 3 s one is a short abandon, < 5 s; the callback request chose to leave;
    the last one still waits)."""
    abandoned, short = metrics.abandons(DAY, RULES.short_abandon_seconds)
    assert (len(metrics.offered(DAY)), len(metrics.answered(DAY)), len(abandoned), len(short)) == (8, 4, 1, 1)


def test_service_level_leaves_short_abandons_out_of_the_base():
    """within 20 s: waits 10 and 20 → 2; base = offered 8 - short abandons 1 = 7;
    service level = 100 x 2 / 7 = 28.571… → 28.6; abandon rate = 100 x 1 / 7 = 14.285… → 14.3."""
    figures = metrics.call_figures(DAY, RULES)
    assert (figures.within_sl, figures.service_level, figures.abandon_rate) == (2, 28.6, 14.3)


def test_average_speed_of_answer():
    """ASA = (10 + 20 + 50 + 40) / 4 = 120 / 4 = 30.0 s."""
    assert metrics.call_figures(DAY, RULES).asa_seconds == 30.0


def test_average_handle_time_is_talk_hold_and_wrap_up():
    """handled = the 3 answered calls that ended: (120 + 30) + (180 + 0) + (60 + 30) = 150 + 180 + 90 = 420;
    AHT = 420 / 3 = 140.0 s. Hold is inside the connected time (ended - answered), so it is counted once."""
    figures = metrics.call_figures(DAY, RULES)
    assert (figures.handled, figures.aht_seconds) == (3, 140.0)


def test_a_short_abandon_threshold_of_zero_counts_every_abandon():
    """With T_short = 0: abandoned = 2 (30 s and 3 s), short = 0; abandon rate = 100 x 2 / 8 = 25.0."""
    figures = metrics.call_figures(DAY, Thresholds(short_abandon_seconds=0))
    assert (figures.abandoned, figures.short_abandoned, figures.abandon_rate) == (2, 0, 25.0)


def test_nothing_offered_means_no_rates():
    """0 offered: service level, abandon rate, ASA and AHT are empty (None), not 0."""
    figures = metrics.call_figures([], RULES)
    assert (figures.offered, figures.service_level, figures.abandon_rate, figures.asa_seconds,
            figures.aht_seconds, figures.fcr_rate) == (0, None, None, None, None, None)


def test_first_contact_resolution():
    """Answered calls with a contact: A on queue 1 at day 0, B on queue 1 at day 0, C on queue 1 at day 0,
    D (no contact: not in the base). Later calls: A again on queue 1 at day 3 (≤ 7 days: A not resolved),
    B again on queue 2 at day 1 (another queue: B resolved), C again on queue 1 at day 8 (> 7 days: C resolved).
    FCR = 100 x 2 / 3 = 66.666… → 66.7."""
    day = 86400
    period = [call(5, ended=60, contact="A"), call(5, ended=60, contact="B"), call(5, ended=60, contact="C"),
              call(5, ended=60, contact=None)]
    later = [*period, call(None, ended=10, contact="A", at=3 * day), call(None, ended=10, contact="B", queue=2,
                                                                         at=1 * day),
             call(None, ended=10, contact="C", at=8 * day)]
    assert metrics.first_contact_resolutions(period, later, 7) == (2, 3)
    assert metrics.call_figures(period, RULES, later).fcr_rate == 66.7


def test_transfers_are_counted_per_call_event():
    """One call transferred twice, one once, one never: 2 + 1 + 0 = 3."""
    calls = [call(5, ended=60, transfers=2), call(5, ended=60, transfers=1), call(5, ended=60)]
    assert metrics.call_figures(calls, RULES).transfers == 3


def test_occupancy_and_utilisation_from_the_state_log():
    """Period 09:00-10:00. Agent 7 was `available` since 08:30 (the change before the period),
    09:10 on_call, 09:30 wrap_up, 09:35 available, 09:45 away, then stays away until 10:00.
    available = 10 + 10 = 20 min, on_call 20, wrap_up 5, away 15.
    handling = 20 + 5 = 25 min; staffed = 20 + 25 = 45; logged in = 45 + 15 = 60.
    occupancy = 100 x 25 / 45 = 55.555… → 55.6; utilisation = 100 x 25 / 60 = 41.666… → 41.7."""
    def m(minutes: int) -> datetime:
        return T0 + timedelta(minutes=minutes)
    log = [StateChange(7, "available", m(-30)), StateChange(7, "on_call", m(10)), StateChange(7, "wrap_up", m(30)),
           StateChange(7, "available", m(35)), StateChange(7, "away", m(45))]
    spent = metrics.state_seconds(log, T0, m(60))
    assert spent[7] == Counter(available=1200.0, on_call=1200.0, wrap_up=300.0, away=900.0)
    time_ = metrics.agent_time(spent.values())
    assert (time_.handling_seconds, time_.staffed_seconds, time_.logged_in_seconds) == (1500.0, 2700.0, 3600.0)
    assert (time_.occupancy, time_.utilisation) == (55.6, 41.7)


def test_callbacks_kept():
    """Due: completed, completed, failed, scheduled, cancelled → cancelled left out: due 4, kept 2;
    kept rate = 100 x 2 / 4 = 50.0."""
    rows = [CallbackRecord(1, 7, T0, status) for status in ("completed", "completed", "failed", "scheduled",
                                                            "cancelled")]
    assert metrics.callback_figures(rows) == metrics.CallbackFigures(due=4, kept=2, kept_rate=50.0)


def test_campaign_dials_live_answers_machines_and_abandon_rate():
    """Outcomes: answered x6, abandoned x2, machine x3, no-answer x4, busy x1, still ringing (None) x1.
    dials = 17; live = 6 + 2 = 8; machines = 3; abandon rate = 2 / 8 = 0.25."""
    outcomes = ["answered"] * 6 + ["abandoned"] * 2 + ["machine"] * 3 + ["no-answer"] * 4 + ["busy", None]
    figures = metrics.campaign_figures([DialRecord(1, T0, o) for o in outcomes])
    assert figures == metrics.CampaignFigures(dials=17, live_answers=8, machines=3, abandoned=2, abandon_rate=0.25)


def test_periods_follow_the_viewers_wall_clock():
    """New York, 2026-11-01 is the day clocks go back (EDT -4 → EST -5): that local day lasts 25 hours.
    Days from 2026-10-31 00:00 to 2026-11-02 00:00 local: 2 periods; the second is 25 h long.
    Hours over that day: 25 periods. A week starts on Monday: 2026-11-04 (a Wednesday) → 2026-11-02."""
    ny = ZoneInfo("America/New_York")
    start, end = datetime(2026, 10, 31, tzinfo=ny), datetime(2026, 11, 2, tzinfo=ny)
    days = metrics.periods(start, end, "day", ny)
    assert len(days) == 2 and days[1][1].astimezone(UTC) - days[1][0].astimezone(UTC) == timedelta(hours=25)
    assert len(metrics.periods(datetime(2026, 11, 1, tzinfo=ny), end, "hour", ny)) == 25
    assert metrics.period_start(datetime(2026, 11, 4, 15, tzinfo=ny), "week", ny).date().isoformat() == "2026-11-02"
    quarter = metrics.period_start(datetime(2026, 11, 4, 15, 44, 59, tzinfo=ny), "15m", ny)
    assert (quarter.hour, quarter.minute) == (15, 30)
