"""What a transaction leaves for after its commit runs once, after the commit, with the connection given back."""

from __future__ import annotations

from sqlalchemy import text

from callcenter.extensions import db
from callcenter.services import jobs
from callcenter.services.events import bus, publish_after_commit


def test_event_handlers_run_after_the_session_gave_its_connection_back(app, session):
    """A handler that opens its own unit of work (the screen-pop does) must not need a second connection while the
    publishing session still holds one: with a few dozen concurrent webhooks that exhausts the pool."""
    seen: list[int] = []

    def handler(event):
        if event.name == "test.committed":
            seen.append(db.engine.pool.checkedout())

    bus.subscribe(handler)
    try:
        session.execute(text("SELECT 1"))
        publish_after_commit(session, "test.committed", n=1)
        assert seen == []
        session.commit()
    finally:
        bus.unsubscribe(handler)
    assert seen == [0]


def test_work_left_for_after_a_rolled_back_transaction_is_dropped(app, session):
    published = []
    bus.subscribe(published.append)
    try:
        session.execute(text("SELECT 1"))
        publish_after_commit(session, "test.rolled_back")
        jobs.defer(session, "workers.calls.derive_calls", 1, key="never")
        session.rollback()
        session.execute(text("SELECT 1"))
        session.commit()
    finally:
        bus.unsubscribe(published.append)
    assert [e.name for e in published if e.name.startswith("test.")] == []
    assert jobs.pending(session) == []


def test_a_savepoint_hands_nothing_on_before_the_outer_commit(app, session):
    published = []
    bus.subscribe(published.append)
    try:
        session.execute(text("SELECT 1"))
        with session.begin_nested():
            publish_after_commit(session, "test.in_savepoint")
        assert [e.name for e in published if e.name.startswith("test.")] == []
        session.commit()
    finally:
        bus.unsubscribe(published.append)
    assert [e.name for e in published if e.name.startswith("test.")] == ["test.in_savepoint"]
