"""PostgreSQL settings a transaction gets from the block it begins in: a webhook's budget (lock and statement
timeouts) and asynchronous commits, in one round trip, ending with the transaction."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from flask import Flask

from callcenter import create_app, offer_reactions
from callcenter.db import Database, asynchronous_commit, make_engine, wait_budget
from callcenter.services import offers
from ivr.guard import fail_safe


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


def test_without_a_budget_a_transaction_pays_the_round_trip_only_once_it_writes(engine):
    """A read-only transaction commits nothing: it sends no set_config; its first write is preceded by one."""
    sent: list[str] = []
    sa.event.listen(engine, "before_cursor_execute", lambda *args: sent.append(args[2]))
    with asynchronous_commit(), engine.begin() as connection:
        reading = _settings(connection)
        connection.exec_driver_sql("CREATE TEMPORARY TABLE cc_written (n int)")
        writing = _settings(connection)

    assert reading == ("on", "0", "0") and writing == ("off", "0", "0")
    assert len(sent) == 3  # our three statements; the set_config went with the write, not through the events


def test_a_write_in_a_with_statement_commits_asynchronously_too(engine):
    """PostgreSQL's data-modifying CTEs write (the offer is recorded in one): a transaction whose first write is
    one gets its settings before it, as any other write does; a WITH that only reads does not."""
    with engine.begin() as connection:
        connection.exec_driver_sql("CREATE TEMPORARY TABLE cc_offered (n int)")  # lives as long as the connection
    with asynchronous_commit(), engine.begin() as connection:
        connection.exec_driver_sql("WITH counted AS (SELECT count(*) AS n FROM cc_offered) SELECT n FROM counted")
        reading = _settings(connection)
        connection.exec_driver_sql("WITH added AS (INSERT INTO cc_offered VALUES (1) RETURNING n) SELECT n FROM added")
        writing = _settings(connection)

    assert reading == ("on", "0", "0") and writing == ("off", "0", "0")


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
