"""Today's service level and abandon rate follow the written formulas (services/queue_stats.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from callcenter.models import CallEvent, Queue
from callcenter.services import queue_stats

NOON = datetime(2026, 11, 23, 17, 0, tzinfo=UTC)  # noon in New York


def test_service_level_and_abandon_rate(session, factory):
    queue = Queue(name="Support", time_zone="America/New_York", service_level_seconds=20, service_level_target=80)
    session.add(queue)
    session.commit()
    t = NOON - timedelta(hours=1)

    def call(wait: float | None, ended: bool = True, left: str | None = None, day_offset: int = 0):
        start = t - timedelta(days=day_offset)
        made = factory.call(queue_id=queue.id, enqueued_at=start,
                            agent_answered_at=start + timedelta(seconds=wait) if wait is not None else None,
                            ended_at=start + timedelta(minutes=5) if ended else None)
        if left:
            session.add(CallEvent(call_id=made.id, call_sid=made.call_sid, kind=left))
            session.commit()

    call(5)        # answered within 20 s
    call(19.9)     # within
    call(45)       # answered late
    call(None)     # abandoned
    call(None, left="callback_requested")  # left for a callback: not abandoned
    call(None, ended=False)                # still waiting
    call(3, day_offset=1)                  # yesterday: not counted

    day = queue_stats.today(session, queue, NOON)

    assert (day.offered, day.answered, day.within_sl, day.abandoned) == (6, 3, 2, 1)
    assert day.service_level == round(100 * 2 / 6, 1) and day.abandon_rate == round(100 / 6, 1)
    assert day.below_target is True


def test_no_calls_means_no_service_level_and_no_alert(session):
    queue = Queue(name="Quiet")
    session.add(queue)
    session.commit()
    day = queue_stats.today(session, queue, NOON)
    assert (day.offered, day.service_level, day.below_target) == (0, None, False)


def test_alert_is_raised_once_and_cleared(app, session, factory):
    from callcenter.services.events import bus

    r = app.extensions["callcenter.redis"]
    queue = Queue(name="Hot", service_level_seconds=10, service_level_target=90)
    session.add(queue)
    session.commit()
    now = NOON  # the wall clock would put the calls in yesterday for the first minute after midnight
    for _ in range(5):
        factory.call(queue_id=queue.id, enqueued_at=now - timedelta(minutes=1), ended_at=now)  # all abandoned
    events = []
    bus.subscribe(events.append)
    try:
        queue_stats.publish_today(session, r, queue.id, now)
        queue_stats.publish_today(session, r, queue.id, now)
    finally:
        bus.unsubscribe(events.append)
    alerts = [e.payload for e in events if e.name == "queue.alert"]
    assert len(alerts) == 1 and alerts[0]["active"] is True and "below the 90% target" in alerts[0]["message"]
