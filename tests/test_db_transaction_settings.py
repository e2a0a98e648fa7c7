"""PostgreSQL settings a transaction gets from the block it begins in: a webhook's budget (lock and statement
timeouts) and asynchronous commits, in one round trip, ending with the transaction."""

from __future__ import annotations

import psycopg
import pytest
import sqlalchemy as sa
from flask import Flask

from callcenter import create_app, offer_reactions
from callcenter.db import Database, asynchronous_commit, make_engine, wait_budget
from callcenter.services import offers
from ivr.guard import fail_safe
from tests.support.sql import RoundTrips


@pytest.fixture
def durable_url(postgres_server) -> str:
    """The test server commits asynchronously everywhere (it is thrown away); these connections start durable,
    as a production server's do."""
    return postgres_server.url() + "?options=-c%20synchronous_commit%3Don"


@pytest.fixture
def engine(durable_url):
    engine = make_engine(durable_url, pool_size=1)
    yield engine
    engine.dispose()


def _settings(connection) -> tuple[str, str, str]:
    return tuple(connection.exec_driver_sql(
        "SELECT current_setting('synchronous_commit'), current_setting('lock_timeout'), "
        "current_setting('statement_timeout')").one())


def test_a_transaction_that_writes_in_asynchronous_commit_does_not_wait_for_the_disk_and_the_next_one_does(engine):
    with asynchronous_commit(), engine.begin() as connection:
        connection.exec_driver_sql("CREATE TEMPORARY TABLE cc_written (n int)")
        during = _settings(connection)
    with engine.begin() as connection:  # the same pooled connection, outside the block
        after = _settings(connection)

    assert during == ("off", "0", "0")
    assert after == ("on", "0", "0")


def test_a_webhook_transaction_gets_its_budget_and_asynchronous_commit_together(engine):
    with wait_budget(3.0), asynchronous_commit(), engine.begin() as connection:
        synchronous, lock_timeout, statement_timeout = _settings(connection)

    assert synchronous == "off"
    assert lock_timeout == statement_timeout
    assert 2.5 <= float(lock_timeout.removesuffix("ms")) / 1000 <= 3.0  # what was left of the 3 s budget, as ms


def test_a_transaction_of_one_insert_is_two_round_trips_with_its_begin_and_settings(engine):
    """BEGIN, the budget's and asynchronous commit's settings and the insert are one message; COMMIT the other.
    psycopg alone made four: BEGIN, the settings, the insert, COMMIT."""
    with engine.begin() as connection:
        connection.exec_driver_sql("CREATE TEMPORARY TABLE cc_events (n int PRIMARY KEY, note text)")

    with RoundTrips(engine) as trips, wait_budget(3.0), asynchronous_commit(), engine.begin() as connection:
        inserted = connection.execute(
            sa.text("INSERT INTO cc_events VALUES (:n, :note) ON CONFLICT DO NOTHING RETURNING n, note"),
            {"n": 1, "note": "100% it's 'quoted' %s"}).all()
    with engine.connect() as connection:
        settings_after = _settings(connection)
        kept = connection.exec_driver_sql("SELECT n, note FROM cc_events").all()

    assert trips.count == 2
    assert inserted == kept == [(1, "100% it's 'quoted' %s")]  # bound client-side, quoted by psycopg
    assert settings_after == ("on", "0", "0")  # SET LOCAL: they ended with the transaction


def test_the_first_statement_carries_the_settings_whether_it_reads_or_writes(engine):
    """A read-only transaction commits nothing, yet its settings cost no round trip now: they go with its BEGIN."""
    with RoundTrips(engine) as trips, asynchronous_commit(), engine.begin() as connection:
        reading = _settings(connection)
    with RoundTrips(engine) as plain, engine.begin() as connection:
        outside = _settings(connection)

    assert reading == ("off", "0", "0") and trips.count == 2  # BEGIN, settings and the SELECT; COMMIT
    assert outside == ("on", "0", "0") and plain.count == 2


def test_a_failed_first_statement_rolls_its_transaction_back_and_the_connection_serves_on(engine):
    with engine.begin() as connection:
        connection.exec_driver_sql("CREATE TEMPORARY TABLE cc_unique (n int PRIMARY KEY)")
        connection.exec_driver_sql("INSERT INTO cc_unique VALUES (1)")

    with pytest.raises(sa.exc.IntegrityError), asynchronous_commit(), engine.begin() as connection:
        connection.execute(sa.text("INSERT INTO cc_unique VALUES (:n)"), {"n": 1})
    with engine.connect() as connection:
        connection.execute(sa.text("INSERT INTO cc_unique VALUES (:n)"), {"n": 2})
        connection.execute(sa.text("INSERT INTO cc_unique VALUES (:n)"), {"n": 3})
        connection.rollback()
        after_rollback = connection.exec_driver_sql("SELECT n FROM cc_unique ORDER BY n").scalars().all()

    assert after_rollback == [1]  # the rolled-back transaction's first statement went with its BEGIN, and back


def test_an_executemany_or_a_server_side_cursor_begins_its_transaction_too(engine):
    """Neither can carry the opening in its own message: it goes just before them, and they stay in the
    transaction (a rollback undoes an executemany; a server-side cursor's DECLARE needs one)."""
    with engine.begin() as connection:
        connection.exec_driver_sql("CREATE TEMPORARY TABLE cc_many (n int)")

    with engine.connect() as connection:
        connection.exec_driver_sql("INSERT INTO cc_many VALUES (%(n)s)", [{"n": 1}, {"n": 2}, {"n": 3}])
        connection.rollback()
        connection.exec_driver_sql("INSERT INTO cc_many VALUES (%(n)s)", [{"n": 4}, {"n": 5}])
        connection.commit()
        with asynchronous_commit():
            streamed = connection.execution_options(yield_per=1).exec_driver_sql(
                "SELECT n, current_setting('synchronous_commit') FROM cc_many ORDER BY n").all()
        connection.rollback()

    assert streamed == [(4, "off"), (5, "off")]


def test_autocommit_isolation_is_left_to_the_driver(engine):
    """SQLAlchemy's AUTOCOMMIT isolation level: no transaction is opened around its statements."""
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.exec_driver_sql("CREATE TEMPORARY TABLE cc_autocommitted (n int)")
        left_open = connection.connection.dbapi_connection.info.transaction_status

    assert left_open == psycopg.pq.TransactionStatus.IDLE  # each statement its own transaction
    with engine.begin() as connection:  # the same pooled connection opens its own transactions again
        assert connection.exec_driver_sql("SELECT now() = statement_timestamp()").scalar_one() is True
        assert connection.exec_driver_sql("SELECT now() = statement_timestamp()").scalar_one() is False


def test_asynchronous_commit_can_be_turned_off_for_a_block(engine):
    with asynchronous_commit(False), engine.begin() as connection:
        assert _settings(connection) == ("on", "0", "0")


def _synchronous_commit_seen_by_a_webhook(database_url: str, *, configured_synchronous: bool) -> str:
    app = Flask(__name__)
    app.config.update(DATABASE_URL=database_url, WEBHOOK_SYNCHRONOUS_COMMIT=configured_synchronous)
    database = Database()
    database.init_app(app)

    @fail_safe(lambda: ("fallback", 200))
    def view() -> str:
        return database.session.execute(sa.text("SELECT current_setting('synchronous_commit')")).scalar_one()

    try:
        with app.test_request_context("/ivr/voice", method="POST"):
            return view()
    finally:
        database.session.remove()
        database.engine.dispose()


def test_a_webhook_on_postgresql_commits_asynchronously_unless_configured_not_to(durable_url):
    """The guard of every voice webhook opens the block; WEBHOOK_SYNCHRONOUS_COMMIT keeps commits durable."""
    assert _synchronous_commit_seen_by_a_webhook(durable_url, configured_synchronous=False) == "off"
    assert _synchronous_commit_seen_by_a_webhook(durable_url, configured_synchronous=True) == "on"


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_the_screen_pop_built_after_a_webhook_commits_asynchronously_too(database_url, app_config, monkeypatch):
    """The pop is the webhook's work, done once its answer has gone out, and the agent waits for it."""
    app_config["DATABASE_URL"] = database_url + "?options=-c%20synchronous_commit%3Don"
    app = create_app(app_config)
    seen: list[str] = []

    def prepare_offer(session, *_args, **_kwargs) -> None:
        session.execute(sa.text("CREATE TEMPORARY TABLE cc_written (n int)"))  # the pop's write
        seen.append(session.execute(sa.text("SELECT current_setting('synchronous_commit')")).scalar_one())

    monkeypatch.setattr(offers, "prepare_offer", prepare_offer)
    with app.app_context():
        offer_reactions._prepare_offer({"call_sid": "CA" + "1" * 32})

    assert seen == ["off"]
