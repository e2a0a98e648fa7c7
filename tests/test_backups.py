"""Backups: backup → wipe → restore gives back every row, on SQLite and PostgreSQL; encryption; the refusals;
retention; the daily job the workers' ticker enqueues once a day."""

from __future__ import annotations

import json
import signal
import threading
from datetime import datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from rq import Queue
from sqlalchemy import Engine, func, select

from callcenter import migrate
from callcenter.cli import main
from callcenter.db import make_engine
from callcenter.extensions import db
from callcenter.models import Contact, ContactPhone, User
from callcenter.redis_conn import get_redis
from callcenter.seed import seed_demo
from callcenter.services import backups
from callcenter.services.backups import BackupError
from workers import ticker
from workers.backups import daily_backup
from workers.worker import run_worker

PASSPHRASE = "correct horse battery staple"


def snapshot(engine: Engine) -> dict[str, list[tuple]]:
    """Every row of every table (found by reflection, not from our models), ordered by primary key."""
    metadata = sa.MetaData()
    metadata.reflect(bind=engine)
    rows = {}
    with engine.connect() as connection:
        for table in metadata.sorted_tables:
            order = list(table.primary_key.columns)
            statement = select(table).order_by(*order)
            fetched = [tuple(row) for row in connection.execute(statement)]
            rows[table.name] = fetched if order else sorted(fetched, key=repr)
    return rows


def wipe(engine: Engine) -> None:
    """Throw the database away and leave a new, empty one (no tables) under the same URL."""
    engine.dispose()
    if engine.dialect.name == "sqlite":
        path = Path(engine.url.database)
        for leftover in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
            leftover.unlink(missing_ok=True)
    else:
        name = engine.url.database
        admin = sa.create_engine(engine.url.set(database="postgres"), isolation_level="AUTOCOMMIT")
        with admin.connect() as connection:
            connection.exec_driver_sql(f"DROP DATABASE {name} WITH (FORCE)")
            connection.exec_driver_sql(f"CREATE DATABASE {name} TEMPLATE template0")
        admin.dispose()
    assert sa.inspect(engine).get_table_names() == []


@pytest.fixture
def filled(session) -> dict[str, list[tuple]]:
    """The demo data (users, skills, queues, flows, accounts, contacts, tickets) plus text no ASCII column would
    keep; returns the snapshot a restore must give back."""
    seed_demo(session, contact_count=40)
    contact = Contact(first_name="美", last_name="王 — O'Brien \"quoted\"\ttab\nline", notes="\\ backslash %s")
    contact.phones = [ContactPhone(e164="+8613800138000", raw="138 0013 8000")]
    session.add(contact)
    session.commit()
    db.session.remove()  # no transaction of the test may hold locks on the tables a restore replaces
    rows = snapshot(db.engine)
    assert sum(1 for table in rows.values() if table) >= 8
    return rows


def _backup(tmp_path: Path, name: str = "backup.ccbackup", passphrase: str | None = None) -> backups.BackupInfo:
    return backups.write_backup(db.engine, tmp_path / name, passphrase=passphrase)


def test_backup_wipe_restore_gives_back_every_row(app, filled, tmp_path):
    info = _backup(tmp_path)
    assert info.backend == db.engine.dialect.name and not info.encrypted and info.size > 0
    assert backups.read_info(info.path).revision is not None

    wipe(db.engine)
    backups.restore_backup(db.engine, info.path)

    assert snapshot(db.engine) == filled
    # The application works on the restored database: sequences go on after the restored ids.
    contact = Contact(first_name="After", last_name="Restore")
    db.session.add(contact)
    db.session.commit()
    assert contact.id > max(row[0] for row in filled["contacts"])


def test_encrypted_backup_needs_its_passphrase(app, filled, tmp_path):
    info = _backup(tmp_path, passphrase=PASSPHRASE)
    assert info.encrypted
    content = info.path.read_bytes()
    assert b"SQLite format 3" not in content and b"PGDMP" not in content and b"alice" not in content
    wipe(db.engine)

    with pytest.raises(BackupError, match="encrypted"):
        backups.restore_backup(db.engine, info.path)
    with pytest.raises(BackupError, match="wrong passphrase"):
        backups.restore_backup(db.engine, info.path, passphrase="not it")
    assert sa.inspect(db.engine).get_table_names() == []

    backups.restore_backup(db.engine, info.path, passphrase=PASSPHRASE)
    assert snapshot(db.engine) == filled


@pytest.mark.parametrize("encrypted", [False, True], ids=["plain", "encrypted"])
def test_a_damaged_backup_changes_nothing(app, filled, tmp_path, encrypted):
    """A forced restore of a truncated or altered file fails and leaves the database as it was."""
    info = _backup(tmp_path, passphrase=PASSPHRASE if encrypted else None)
    content = info.path.read_bytes()
    truncated = tmp_path / "truncated.ccbackup"
    truncated.write_bytes(content[: len(content) * 2 // 3])
    altered = tmp_path / "altered.ccbackup"
    middle = len(content) * 3 // 4
    altered.write_bytes(content[:middle] + bytes([content[middle] ^ 0xFF]) + content[middle + 1:])

    for damaged in (truncated, altered):
        with pytest.raises(BackupError, match=r"damaged|truncated|failed"):
            backups.restore_backup(db.engine, damaged, passphrase=PASSPHRASE if encrypted else None, force=True)
        assert snapshot(db.engine) == filled


def test_restore_refuses_a_database_with_rows_unless_forced(app, filled, tmp_path):
    info = _backup(tmp_path)
    db.session.add(Contact(first_name="Added", last_name="Later"))
    db.session.commit()
    db.session.remove()

    with pytest.raises(BackupError, match=r"not empty.*--force"):
        backups.restore_backup(db.engine, info.path)
    assert db.session.scalar(select(func.count()).select_from(Contact)) == len(filled["contacts"]) + 1
    db.session.remove()

    backups.restore_backup(db.engine, info.path, force=True)
    assert snapshot(db.engine) == filled


def test_restore_into_a_migrated_empty_database_needs_no_force(app, filled, tmp_path):
    """The usual recovery: install, `callcenter db upgrade`, restore."""
    info = _backup(tmp_path)
    with db.engine.begin() as connection:
        for table in reversed(_tables(connection)):
            if table.name != "alembic_version":
                connection.execute(table.delete())
    assert backups.user_tables_with_rows(db.engine) == []

    backups.restore_backup(db.engine, info.path)
    assert snapshot(db.engine) == filled


def _tables(connection) -> list[sa.Table]:
    metadata = sa.MetaData()
    metadata.reflect(bind=connection)
    return metadata.sorted_tables


def _rewrite_header(source: Path, target: Path, **changes) -> Path:
    """A copy of an unencrypted backup whose header says something else."""
    content = source.read_bytes()
    start = len(backups.MAGIC)
    length = int.from_bytes(content[start:start + 4], "big")
    header = json.loads(content[start + 4:start + 4 + length]) | changes
    encoded = json.dumps(header).encode()
    target.write_bytes(backups.MAGIC + len(encoded).to_bytes(4, "big") + encoded + content[start + 4 + length:])
    return target


def test_restore_refuses_another_backend_a_newer_schema_and_other_files(app, filled, tmp_path):
    info = _backup(tmp_path)
    other = "postgresql" if info.backend == "sqlite" else "sqlite"
    wipe(db.engine)

    with pytest.raises(BackupError, match=f"is a {other} backup; the database is {info.backend}"):
        backups.restore_backup(db.engine, _rewrite_header(info.path, tmp_path / "other.ccbackup", backend=other))
    with pytest.raises(BackupError, match=r"revision ffff0000.*newer schema"):
        backups.restore_backup(db.engine, _rewrite_header(info.path, tmp_path / "newer.ccbackup",
                                                          revision="ffff0000"))
    not_ours = tmp_path / "notes.txt"
    not_ours.write_text("hello")
    with pytest.raises(BackupError, match="not a callcenter backup"):
        backups.restore_backup(db.engine, not_ours)
    assert sa.inspect(db.engine).get_table_names() == []


def test_backup_is_consistent_while_writes_go_on(app, filled, tmp_path, database_url):
    """Another connection keeps committing a contact with its phone (one transaction each) during the backup: the
    backup holds each such pair whole, never a contact without its phone or a phone without its contact."""
    writer_engine = make_engine(database_url)
    stop = threading.Event()
    committed: list[int] = []

    def write() -> None:
        with sa.orm.Session(writer_engine) as session:
            while not stop.is_set():
                contact = Contact(first_name="Busy", last_name=f"Writer {len(committed)}")
                contact.phones = [ContactPhone(e164=f"+1415555{len(committed):04d}", raw="x")]
                session.add(contact)
                session.commit()
                committed.append(contact.id)

    thread = threading.Thread(target=write)
    thread.start()
    try:
        _wait(lambda: len(committed) >= 5)
        before = len(committed)
        info = _backup(tmp_path)
        after = len(committed)
        _wait(lambda: len(committed) > after)  # and the writer went on after it
    finally:
        stop.set()
        thread.join()
        writer_engine.dispose()

    wipe(db.engine)
    backups.restore_backup(db.engine, info.path)
    busy = db.session.scalars(select(Contact).where(Contact.first_name == "Busy")).all()
    assert before <= len(busy) <= after < len(committed)
    assert all(len(contact.phones) == 1 for contact in busy)
    assert db.session.scalar(select(func.count()).select_from(ContactPhone).where(ContactPhone.raw == "x")) == len(busy)


def _wait(predicate, timeout: float = 30.0) -> None:
    from tests.support.servers import wait_until

    wait_until(predicate, timeout=timeout, message="the writer's commits")


# --- retention and the daily job -------------------------------------------------------------------------------------


def test_retention_keeps_the_newest_backups_and_nothing_else_is_touched(tmp_path):
    start = datetime(2026, 11, 1, 3, 0)
    for day in range(20):
        backups.default_path(tmp_path, start + timedelta(days=day)).write_bytes(b"x")
    others = [tmp_path / "notes.txt", tmp_path / "callcenter-20200101T000000Z.ccbackup.partial",
              tmp_path / "manual.ccbackup"]
    for item in others:
        item.write_text("keep me")

    deleted = backups.prune_backups(tmp_path, keep=14)

    assert sorted(deleted) == [backups.default_path(tmp_path, start + timedelta(days=d)) for d in range(6)]
    kept = sorted(p for p in tmp_path.iterdir() if backups.NAME_PATTERN.fullmatch(p.name))
    assert kept == [backups.default_path(tmp_path, start + timedelta(days=d)) for d in range(6, 20)]
    assert all(item.exists() for item in others)


@pytest.fixture
def backup_config(app_config, tmp_path):
    app_config.update(BACKUP_DAILY=True, BACKUP_HOUR=3, BACKUP_KEEP=2, BACKUP_DIR=str(tmp_path / "daily"))
    return app_config


def test_daily_backup_job_writes_a_backup_and_keeps_the_newest(backup_config, app, filled, tmp_path):
    folder = tmp_path / "daily"
    folder.mkdir()
    old = [backups.default_path(folder, datetime(2026, 1, day, 3)) for day in (1, 2, 3)]
    for item in old:
        item.write_bytes(b"old")

    written = Path(daily_backup("2026-12-01"))

    assert sorted(folder.iterdir()) == sorted([old[2], written])
    wipe(db.engine)
    backups.restore_backup(db.engine, written)
    assert snapshot(db.engine) == filled


def _local(day: datetime, hour: int, minute: int = 0) -> float:
    return day.replace(hour=hour, minute=minute, second=0, microsecond=0).timestamp()


def _backup_jobs(queue: Queue) -> list[str]:
    """The backups waiting on the maintenance queue (which also carries the hourly RFM job)."""
    return [job_id for job_id in queue.job_ids if job_id.startswith("daily-backup-")]


def test_the_ticker_enqueues_one_backup_a_day_whatever_the_number_of_workers(backup_config, app):
    app.config["JOBS_INLINE"] = False
    r = get_redis(app)
    maintenance = Queue("maintenance", connection=r)
    today = datetime.now()
    tomorrow = today + timedelta(days=1)

    ticker.tick(app, _local(today, 2, 59))
    assert _backup_jobs(maintenance) == []

    ticker.tick(app, _local(today, 3, 0))
    ticker.tick(app, _local(today, 3, 1))
    ticker.tick(app, _local(today, 23, 59))
    assert _backup_jobs(maintenance) == [f"daily-backup-{today.date().isoformat()}"]

    # Several workers' passes at the same moment (the lease normally keeps them apart): one of them enqueues.
    results: list[bool] = []
    barrier = threading.Barrier(4)

    def race() -> None:
        barrier.wait()
        with app.app_context():
            results.append(ticker.schedule_daily_backup(app, get_redis(app), _local(tomorrow, 4)))

    threads = [threading.Thread(target=race) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == [False, False, False, True]
    ticker.tick(app, _local(tomorrow, 5))
    assert _backup_jobs(maintenance) == [f"daily-backup-{today.date().isoformat()}",
                                         f"daily-backup-{tomorrow.date().isoformat()}"]
    job = maintenance.fetch_job(_backup_jobs(maintenance)[0])
    assert job.func_name == "workers.backups.daily_backup" and job.timeout == ticker.BACKUP_TIMEOUT_SECONDS


def test_a_worker_runs_the_daily_backup_the_ticker_enqueued(backup_config, app, filled, tmp_path):
    app.config["JOBS_INLINE"] = False
    ticker.tick(app, _local(datetime.now(), 12))  # past BACKUP_HOUR whatever the time the suite runs at
    handlers = {number: signal.getsignal(number) for number in (signal.SIGINT, signal.SIGTERM)}
    try:
        assert run_worker(app, queues=("maintenance",), burst=True)
    finally:
        for number, handler in handlers.items():  # RQ's stop handlers would outlive the worker
            signal.signal(number, handler)

    written = list((tmp_path / "daily").iterdir())
    assert len(written) == 1 and backups.read_info(written[0]).backend == db.engine.dialect.name


def test_the_daily_backup_is_off_when_disabled(app):
    """The test suite's default (BACKUP_DAILY off): no pass schedules anything."""
    app.config["JOBS_INLINE"] = False
    ticker.tick(app, _local(datetime.now(), 12))
    assert _backup_jobs(Queue("maintenance", connection=get_redis(app))) == []


# --- the commands ---------------------------------------------------------------------------------------------------


def test_backup_and_restore_commands(runner, app, filled, tmp_path, monkeypatch):
    target = tmp_path / "cli.ccbackup"
    made = runner.invoke(main, args=["backup", "--output", str(target)])
    assert made.exit_code == 0, made.output
    assert str(target) in made.output and f"{target.stat().st_size} bytes" in made.output

    refused = runner.invoke(main, args=["restore", str(target)])
    assert refused.exit_code != 0 and "not empty" in refused.output and "--force" in refused.output

    db.session.execute(sa.update(User).values(full_name="Changed"))
    db.session.commit()
    db.session.remove()
    forced = runner.invoke(main, args=["restore", str(target), "--force"])
    assert forced.exit_code == 0, forced.output
    assert "Restored" in forced.output
    assert snapshot(db.engine) == filled


def test_backup_command_default_folder_and_passphrase_from_the_environment(runner, app, filled, tmp_path,
                                                                         monkeypatch):
    app.config["BACKUP_DIR"] = str(tmp_path / "backups")
    monkeypatch.setenv("CC_TEST_PASSPHRASE", PASSPHRASE)
    made = runner.invoke(main, args=["backup", "--passphrase-env", "CC_TEST_PASSPHRASE"])
    assert made.exit_code == 0, made.output
    (written,) = (tmp_path / "backups").iterdir()
    assert backups.NAME_PATTERN.fullmatch(written.name) and str(written) in made.output
    assert "encrypted" in made.output and backups.read_info(written).encrypted

    wipe(db.engine)
    monkeypatch.setenv("CC_WRONG", "nope")
    wrong = runner.invoke(main, args=["restore", str(written), "--passphrase-env", "CC_WRONG"])
    assert wrong.exit_code != 0 and "wrong passphrase" in wrong.output
    unset = runner.invoke(main, args=["restore", str(written), "--passphrase-env", "CC_UNSET_VARIABLE"])
    assert unset.exit_code != 0 and "CC_UNSET_VARIABLE" in unset.output

    app.config["BACKUP_PASSPHRASE"] = PASSPHRASE  # the setting, when no variable is named
    restored = runner.invoke(main, args=["restore", str(written)])
    assert restored.exit_code == 0, restored.output
    assert snapshot(db.engine) == filled


def test_restore_of_an_older_schema_says_to_upgrade(runner, app, tmp_path):
    wipe(db.engine)
    migrate.upgrade(db.engine, "0001")
    target = tmp_path / "old.ccbackup"
    assert runner.invoke(main, args=["backup", "--output", str(target)]).exit_code == 0
    again = runner.invoke(main, args=["backup", "--output", str(target)])
    assert again.exit_code != 0 and "exists" in again.output
    wipe(db.engine)

    restored = runner.invoke(main, args=["restore", str(target)])

    assert restored.exit_code == 0, restored.output
    assert "revision 0001" in restored.output and "callcenter db upgrade" in restored.output
    assert migrate.current_revision(db.engine) == "0001"
    migrate.upgrade(db.engine)
    assert migrate.current_revision(db.engine) == migrate.head_revision()


def test_a_postgresql_restore_does_not_wait_forever_for_a_running_process(postgres_server, postgres_template,
                                                                         tmp_path, monkeypatch):
    """A process still in a transaction holds locks on the tables: the restore gives up, says why, and the
    database keeps its rows."""
    admin = sa.create_engine(postgres_server.url(), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.exec_driver_sql(f"CREATE DATABASE cc_backup_locked TEMPLATE {postgres_template}")
    admin.dispose()
    engine = make_engine(postgres_server.url("cc_backup_locked"))
    with engine.begin() as connection:
        connection.execute(sa.insert(Contact.__table__).values(first_name="Still", last_name="Here"))
    info = backups.write_backup(engine, tmp_path / "locked.ccbackup")
    monkeypatch.setattr(backups, "PG_LOCK_TIMEOUT_MS", 200)
    try:
        with engine.connect() as busy:
            busy.execute(select(Contact.__table__)).all()  # an open transaction, as a web request's
            with pytest.raises(BackupError, match="stop the web and worker processes first"):
                backups.restore_backup(engine, info.path, force=True)
        with engine.connect() as connection:
            assert connection.scalar(select(func.count()).select_from(Contact.__table__)) == 1
    finally:
        engine.dispose()
