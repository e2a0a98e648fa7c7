"""Migrations build the schema from empty on both backends, and the models do not drift from them."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from callcenter import migrate
from callcenter.db import make_engine
from callcenter.models import Base


def test_upgrade_from_empty_reaches_head_without_drift(database_url):
    engine = make_engine(database_url)
    # database_url is already migrated from a template; start again from an empty schema to prove "from empty".
    with engine.begin() as connection:
        if engine.dialect.name == "postgresql":
            connection.exec_driver_sql("DROP SCHEMA public CASCADE")
            connection.exec_driver_sql("CREATE SCHEMA public")
        else:
            connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
            connection.exec_driver_sql("DROP TABLE IF EXISTS kb_articles_fts")  # a virtual table, not a model
            for table in reversed(Base.metadata.sorted_tables):
                connection.exec_driver_sql(f"DROP TABLE IF EXISTS {table.name}")
            connection.exec_driver_sql("DROP TABLE IF EXISTS alembic_version")
    assert sa.inspect(engine).get_table_names() == []

    migrate.upgrade(engine)

    heads = migrate.alembic_config(database_url)
    from alembic.script import ScriptDirectory

    assert migrate.current_revision(engine) == ScriptDirectory.from_config(heads).get_current_head()
    assert set(sa.inspect(engine).get_table_names()) >= set(Base.metadata.tables)
    assert migrate.drift(engine) == []
    engine.dispose()


def test_dialing_gate_migration_downgrades_and_upgrades_keeping_do_not_call_rows(database_url):
    from alembic import command

    engine = make_engine(database_url)
    with engine.begin() as connection:
        connection.execute(sa.text("INSERT INTO do_not_call (phone_e164, reason, source, added_at) "
                                   "VALUES ('+14155550100', 'asked', 'imported', CURRENT_TIMESTAMP)"))
    config = migrate.alembic_config(database_url)
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "0006_call_language")
    assert "dial_attempts" not in sa.inspect(engine).get_table_names()
    assert {c["name"] for c in sa.inspect(engine).get_columns("do_not_call")} == {"id", "phone_e164", "reason",
                                                                                  "created_at"}

    migrate.upgrade(engine)

    assert migrate.drift(engine) == []
    with engine.connect() as connection:
        rows = connection.execute(sa.text("SELECT phone_e164, source FROM do_not_call")).all()
    assert [tuple(r) for r in rows] == [("+14155550100", "internal")]  # the one list there was is ours
    engine.dispose()


def test_service_desk_migration_keeps_ticket_statuses_and_accepts_new(database_url):
    from alembic import command

    engine = make_engine(database_url)
    config = migrate.alembic_config(database_url)
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "0007_dialing_gate")
    insert = sa.text("INSERT INTO tickets (subject, description, status, priority, escalation_level, created_at, "
                     "updated_at) VALUES (:subject, '', :status, 'normal', 0, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)")
    with engine.begin() as connection:
        connection.execute(insert, {"subject": "old pending", "status": "pending"})
    with engine.begin() as connection, pytest.raises(sa.exc.IntegrityError):
        connection.execute(insert, {"subject": "too early", "status": "new"})

    migrate.upgrade(engine)

    with engine.begin() as connection:
        connection.execute(insert, {"subject": "fresh", "status": "new"})
        rows = connection.execute(sa.text("SELECT subject, status FROM tickets ORDER BY id")).all()
    assert [tuple(r) for r in rows] == [("old pending", "pending"), ("fresh", "new")]
    with engine.begin() as connection, pytest.raises(sa.exc.IntegrityError):
        connection.execute(insert, {"subject": "bad", "status": "escalated"})
    assert migrate.drift(engine) == []
    engine.dispose()
