"""Configuration snapshots: read from process memory, dropped in every process when an edit commits."""

from __future__ import annotations

import time
from datetime import date

import pytest
from sqlalchemy import event as sa_event
from sqlalchemy import select

from callcenter.config_sync import CHANNEL, ChangeSubscriber, encode
from callcenter.extensions import db
from callcenter.models import Holiday, IvrFlow
from callcenter.redis_conn import get_redis
from callcenter.services import acd, config_cache, ivr_flows, queues, routing
from callcenter.services.config_cache import SnapshotCache


def wait_for(condition, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(0.01)


# --- The cache itself --------------------------------------------------------------------------------------------


def test_a_value_is_loaded_once_until_dropped():
    cache = SnapshotCache()
    loads = []
    load = lambda: loads.append(1) or len(loads)  # noqa: E731

    assert cache.get("q", 1, load) == 1
    assert cache.get("q", 1, load) == 1
    cache.drop("q")
    assert cache.get("q", 1, load) == 2
    assert len(loads) == 2


def test_dropping_one_namespace_keeps_the_others():
    cache = SnapshotCache()
    cache.get("queues", 1, lambda: "sales")
    cache.get("ivr_flows", "+18005550100", lambda: "flow")

    cache.drop("queues")

    assert cache.get("queues", 1, lambda: "reloaded") == "reloaded"
    assert cache.get("ivr_flows", "+18005550100", lambda: "reloaded") == "flow"


def test_a_value_loaded_while_a_drop_happened_is_not_kept():
    cache = SnapshotCache()

    def load_during_an_edit() -> str:
        cache.drop("queues")  # another request commits an edit while this one reads the old row
        return "old"

    assert cache.get("queues", 1, load_during_an_edit) == "old"
    assert cache.get("queues", 1, lambda: "new") == "new"


def test_a_miss_is_not_cached_and_old_values_expire():
    now = [0.0]
    cache = SnapshotCache(max_age=10, clock=lambda: now[0])

    assert cache.get("queues", 1, lambda: None) is None
    assert cache.get("queues", 1, lambda: "created since") == "created since"
    now[0] = 11.0
    assert cache.get("queues", 1, lambda: "re-read after max age") == "re-read after max age"


# --- Snapshots of rows ---------------------------------------------------------------------------------------------


def count_statements(session):
    counter = {"n": 0}

    def before(*_args):
        counter["n"] += 1

    engine = session.get_bind()
    sa_event.listen(engine, "before_cursor_execute", before)
    return counter, lambda: sa_event.remove(engine, "before_cursor_execute", before)


def test_a_queue_is_read_from_the_database_once(session, factory):
    sales = factory.demo_line()["Sales"]
    counter, stop = count_statements(session)
    try:
        first = queues.queue_snapshot(session, sales.id), queues.queue_named(session, "Sales")
        reads = counter["n"]
        again = queues.queue_snapshot(session, sales.id), queues.queue_named(session, "Sales")
    finally:
        stop()

    assert reads > 0
    assert counter["n"] == reads  # the second round came from memory
    assert again[0] is first[0] and again[1] is first[1]
    assert first[0].name == "Sales" and first[0].skills and first[0].reservation_timeout_seconds == 15


def test_editing_a_queue_reaches_the_next_call_and_the_acd(session, factory, redis_server):
    sales = factory.demo_line()["Sales"]
    r = get_redis()
    assert routing.queue_config(session, r, sales.id).wrap_up_seconds == 30

    sales.wrap_up_seconds = 5
    session.add(Holiday(queue=sales, day=date(2030, 1, 1)))
    session.commit()

    snapshot = queues.queue_snapshot(session, sales.id)
    assert snapshot.wrap_up_seconds == 5
    assert date(2030, 1, 1) in snapshot.holidays
    assert routing.queue_config(session, r, sales.id).wrap_up_seconds == 5
    assert acd.load_queue_config(r, sales.id).wrap_up_seconds == 5  # what the ACD's scripts read


def test_an_edit_that_is_rolled_back_drops_nothing(session, factory):
    sales = factory.demo_line()["Sales"]
    before = queues.queue_snapshot(session, sales.id)

    sales.max_wait_seconds = 1
    session.flush()
    session.rollback()

    assert queues.queue_snapshot(session, sales.id) is before


def test_a_new_flow_version_answers_the_next_call(session, factory):
    factory.demo_line()
    number = "+18005550100"
    definition = ivr_flows.active_definition(session, number)
    assert definition is not None

    changed = {**definition, "greeting": "Welcome to the new menu."}
    ivr_flows.save_flow(session, None, changed)
    session.commit()

    assert ivr_flows.active_definition(session, number)["greeting"] == "Welcome to the new menu."
    flow = session.scalar(select(IvrFlow).where(IvrFlow.phone_number == number))
    ivr_flows.set_active(session, None, flow.id, False)
    session.commit()
    assert ivr_flows.active_definition(session, number) is None


# --- Between processes ---------------------------------------------------------------------------------------------


@pytest.fixture
def other_process(app):
    """A second process's view: its own cache, fed only by the Redis pub/sub channel."""
    subscriber = ChangeSubscriber(app.config["REDIS_URL"], SnapshotCache()).start()
    assert subscriber.subscribed.wait(5)
    yield subscriber
    subscriber.stop()


def settled(subscriber: ChangeSubscriber, redis_client) -> None:
    """Wait until the subscriber has applied every change announced so far (pub/sub delivers them later)."""
    marker = f"barrier-{time.monotonic_ns()}"
    redis_client.publish(CHANNEL, encode(marker, None))
    wait_for(lambda: subscriber.last_namespace == marker)


def test_a_committed_edit_drops_the_snapshots_of_other_processes(session, factory, other_process, redis_server):
    sales = factory.demo_line()["Sales"]
    settled(other_process, redis_server.client)  # the demo line's own announcements are behind us
    other_process.cache.get(config_cache.QUEUES, ("id", sales.id), lambda: "their snapshot")
    other_process.cache.get(config_cache.IVR_FLOWS, "+18005550100", lambda: "their flow")

    sales.base_priority = 7
    db.session.commit()

    wait_for(lambda: other_process.cache.get(config_cache.QUEUES, ("id", sales.id), lambda: "re-read")
             == "re-read")
    assert other_process.cache.get(config_cache.IVR_FLOWS, "+18005550100", lambda: "re-read") == "their flow"


def test_a_garbled_message_makes_a_process_forget_everything(other_process):
    other_process.cache.get(config_cache.IVR_FLOWS, "+18005550100", lambda: "their flow")

    other_process.apply(b"not json")

    assert other_process.cache.get(config_cache.IVR_FLOWS, "+18005550100", lambda: "re-read") == "re-read"


def test_a_message_names_what_to_drop(other_process):
    other_process.cache.get(config_cache.QUEUES, ("id", 3), lambda: "queue 3")
    other_process.cache.get(config_cache.QUEUES, ("id", 4), lambda: "queue 4")

    other_process.apply(encode(config_cache.QUEUES, ["id", 3]))  # JSON turns the tuple key into a list

    assert other_process.cache.get(config_cache.QUEUES, ("id", 3), lambda: "re-read") == "re-read"
    assert other_process.cache.get(config_cache.QUEUES, ("id", 4), lambda: "re-read") == "queue 4"
