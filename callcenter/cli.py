"""The `callcenter` command: run the product, its parts, and admin tasks."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click
from flask.cli import FlaskGroup, routes_command, shell_command

from callcenter import create_app


def _create_app():
    return create_app()


@click.group(cls=FlaskGroup, create_app=_create_app, add_default_commands=False, add_version_option=False)
def main() -> None:
    """callcenter: call-center and telephony CRM."""


main.add_command(shell_command)
main.add_command(routes_command)


@main.command("run", with_appcontext=False)
@click.option("--host", help="Address to listen on (default HOST or 127.0.0.1).")
@click.option("--port", type=int, help="Port to listen on (default PORT or 5000).")
@click.option("--seed/--no-seed", default=None, help="Seed demo data on first run (default SEED_DEMO).")
def run_command(host: str | None, port: int | None, seed: bool | None) -> None:
    """Run everything: database migration, embedded Redis, web server and worker."""
    from callcenter.runner import run_all

    sys.exit(run_all(host, port, seed))


@main.command("web", with_appcontext=False)
@click.option("--host")
@click.option("--port", type=int)
def web_command(host: str | None, port: int | None) -> None:
    """Run only the web server (gunicorn's gevent worker, serving Socket.IO)."""
    from callcenter.settings import load_settings
    from callcenter.telephony import provider_mode
    from callcenter.webserver import serve

    settings = load_settings()
    processes = settings["WEB_PROCESSES"]
    if processes > 1 and provider_mode(settings) == "sim" and not settings["SIM_REST_URL"]:
        raise click.UsageError("WEB_PROCESSES > 1 needs Twilio or an emulator in its own process (SIM_REST_URL): "
                               "the embedded emulator keeps its calls in the web process.")
    serve(host or settings["HOST"], port or settings["PORT"], processes, settings["WEB_CONNECTIONS"],
          access_log=settings["WEB_ACCESS_LOG"])


@main.command("worker", with_appcontext=False)
@click.option("--burst", is_flag=True, help="Stop when the queues are empty.")
def worker_command(burst: bool) -> None:
    """Run an RQ worker with its scheduler on every named queue."""
    from workers.worker import run_worker

    run_worker(create_app({"DATABASE_APPLICATION_NAME": "callcenter worker"}), burst=burst)


@main.group("db")
def db_group() -> None:
    """Database schema."""


@db_group.command("upgrade")
@click.option("--revision", default="head", show_default=True)
def db_upgrade(revision: str) -> None:
    """Create or migrate the schema (Alembic)."""
    from callcenter import migrate
    from callcenter.extensions import db

    migrate.upgrade(db.engine, revision)
    click.echo(f"Database at revision {migrate.current_revision(db.engine)}.")


@main.group("user")
def user_group() -> None:
    """Users."""


@user_group.command("create")
@click.option("--username", required=True)
@click.option("--full-name", default="")
@click.option("--role", type=click.Choice(["agent", "supervisor", "admin"]), default="agent", show_default=True)
@click.option("--email")
@click.option("--team")
@click.option("--skill", "skills", multiple=True, metavar="NAME=LEVEL", help="Repeatable, e.g. --skill sales=7")
@click.password_option(help="Prompted (twice) when not given.")
def user_create(username, full_name, role, email, team, skills, password) -> None:
    """Create a user."""
    from callcenter.extensions import db
    from callcenter.services.auth import create_user
    from callcenter.services.errors import DomainError

    parsed: dict[str, int] = {}
    for item in skills:
        name, _, level = item.partition("=")
        if not name or not level.isdigit():
            raise click.BadParameter(f"{item!r} is not NAME=LEVEL", param_hint="--skill")
        parsed[name] = int(level)
    try:
        user = create_user(db.session, username=username, password=password, full_name=full_name, role=role,
                           email=email, team=team, skills=parsed)
        db.session.commit()
    except DomainError as exc:
        db.session.rollback()
        raise click.ClickException(exc.message) from None
    click.echo(f"Created {user.role} {user.username} (id {user.id}).")


@main.group("dnc")
def dnc_group() -> None:
    """Do-not-call lists (the dialing gate refuses every number on them)."""


@dnc_group.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--source", type=click.Choice(["imported", "internal"]), default="imported", show_default=True)
@click.option("--reason", default="", help="Stored with every number, e.g. the list's name and date.")
@click.option("--region", help="Country of numbers written without +country (default: DEFAULT_REGION).")
def dnc_import(file: Path, source: str, reason: str, region: str | None) -> None:
    """Import a CSV of numbers (a `number` column, or the first column): all of it, or nothing if a row is bad."""
    from flask import current_app

    from callcenter.extensions import db
    from callcenter.services import do_not_call

    try:
        text = file.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise click.ClickException(f"Cannot read {file}: {exc}") from None
    report = do_not_call.import_csv(db.session, None, text, source=source, reason=reason,
                                    region=(region or current_app.config["DEFAULT_REGION"]).upper())
    for row in report.rows:
        if row.status == "rejected":
            click.echo(f"line {row.line}: {row.raw!r} rejected: {row.error}", err=True)
    if not report.committed:
        raise click.ClickException(f"{report.rejected} row(s) rejected; nothing was imported.")
    counts = {status: sum(1 for r in report.rows if r.status == status)
              for status in ("added", "already_listed", "duplicate")}
    click.echo(f"Imported {counts['added']} number(s) to the {source} list "
               f"({counts['already_listed']} already listed, {counts['duplicate']} duplicate rows).")


@main.group("bench")
def bench_group() -> None:
    """Benchmarks that print the figures the issues set."""


@bench_group.command("inbound", with_appcontext=False)
@click.option("--calls", default=200, show_default=True, help="Concurrent emulated callers.")
@click.option("--agents", default=100, show_default=True, help="Connected agent consoles.")
@click.option("--talk-seconds", default=40.0, show_default=True, help="How long each answered call lasts.")
@click.option("--arrival-seconds", default=30.0, show_default=True, help="Callers arrive over about this long.")
@click.option("--speed", default=2.0, show_default=True, help="Emulator clock factor (prompts, pauses).")
def bench_inbound(calls: int, agents: int, talk_seconds: float, arrival_seconds: float, speed: float) -> None:
    """Callers through the IVR to agents, the product in its own processes: each webhook's and the screen-pop's
    p50/p99 with their ratios to a bare route and a bare Socket.IO round trip from the same run, carrier and bench
    errors, calls completed, each process's peak RSS and threads, the harness's own CPU. Exits 1 on any error."""
    from callcenter.bench import run_inbound

    figures = run_inbound(calls=calls, agents=agents, talk_seconds=talk_seconds, speed=speed,
                          arrival_seconds=arrival_seconds, echo=click.echo)
    if figures["errors"] or figures["carrier_errors"]["total"] or figures["calls_completed"] < calls:
        sys.exit(1)


@bench_group.command("routing", with_appcontext=False)
@click.option("--agents", default=1000, show_default=True, help="Agents logged in and available.")
@click.option("--queues", default=20, show_default=True, help="Queues, each asking for one skill.")
@click.option("--calls", default=300, show_default=True, help="Calls kept waiting.")
@click.option("--decisions", default=2000, show_default=True, help="Reservations timed.")
@click.option("--seed", default=7, show_default=True, help="Random seed of the floor.")
@click.option("--blocked-call", is_flag=True,
              help="Add a top-priority call that no agent can take (it must not slow the other decisions).")
def bench_routing(agents: int, queues: int, calls: int, decisions: int, seed: int, blocked_call: bool) -> None:
    """One ACD decision on a fresh embedded Redis: p50/p99 ms, agents examined, Redis server time."""
    from callcenter.bench_routing import run_routing

    run_routing(agents=agents, queues=queues, calls=calls, decisions=decisions, seed=seed,
                blocked_call=blocked_call, echo=click.echo)


@bench_group.command("dialer", with_appcontext=False)
@click.option("--mode", type=click.Choice(["predictive", "progressive"]), default="predictive", show_default=True)
@click.option("--agents", type=click.IntRange(min=0), default=20, show_default=True, help="Agents logged in.")
@click.option("--aht-seconds", type=click.FloatRange(min=0, min_open=True), default=180.0, show_default=True,
              help="Average handle time (talk + wrap-up).")
@click.option("--answer-rate", type=click.FloatRange(0, 1), default=0.3, show_default=True,
              help="Share of dials a person answers.")
@click.option("--machine-rate", type=click.FloatRange(0, 1), default=0.1, show_default=True,
              help="Share of dials an answering machine answers.")
@click.option("--patience-seconds", type=click.FloatRange(min=0), default=2.0, show_default=True,
              help="How long an answered person waits for an agent (at most the 2 s limit).")
@click.option("--minutes", type=click.FloatRange(min=0, min_open=True), default=60.0, show_default=True,
              help="Virtual minutes simulated.")
@click.option("--seed", type=int, default=1, show_default=True, help="Traffic seed (the same in both modes).")
def bench_dialer(mode: str, agents: int, aht_seconds: float, answer_rate: float, machine_rate: float,
                 patience_seconds: float, minutes: float, seed: int) -> None:
    """An outbound campaign on virtual time paced by the real pacer: occupancy, abandon rate and volumes."""
    from callcenter.bench_dialer import run_dialer

    if answer_rate + machine_rate > 1:
        raise click.BadParameter("answer and machine rates add up to more than 1", param_hint="--machine-rate")
    result = run_dialer(mode=mode, agents=agents, aht_seconds=aht_seconds, answer_rate=answer_rate,
                        machine_rate=machine_rate, patience_seconds=patience_seconds, minutes=minutes, seed=seed)
    for line in result.lines():
        click.echo(line)


@main.command("staffing", with_appcontext=False)
@click.option("--calls", type=float, required=True, help="Calls offered in the interval.")
@click.option("--interval-minutes", type=float, required=True, help="Length of the interval.")
@click.option("--aht-seconds", type=float, required=True, help="Average handle time (talk + hold + wrap-up).")
@click.option("--target-service-level", type=float, required=True, help="Share answered in time, e.g. 0.8.")
@click.option("--answer-within-seconds", type=float, required=True, help="The service level's time, e.g. 20.")
@click.option("--max-occupancy", type=float, default=1.0, show_default=True, help="Cap on agents' busy share.")
@click.option("--shrinkage", type=float, default=0.0, show_default=True,
              help="Share of paid time off the phones (breaks, training, absence).")
@click.option("--patience-seconds", type=float, help="Callers' mean patience: Erlang A instead of Erlang C.")
@click.option("--agents", type=click.IntRange(min=0), help="Evaluate this many agents instead of searching.")
def staffing_command(calls: float, interval_minutes: float, aht_seconds: float, target_service_level: float,
                     answer_within_seconds: float, max_occupancy: float, shrinkage: float,
                     patience_seconds: float | None, agents: int | None) -> None:
    """Agents for one interval (Erlang C, or Erlang A with --patience-seconds): one `name value` pair a line."""
    from callcenter.services.staffing import StaffingInputError, staffing

    try:
        result = staffing(calls, interval_minutes, aht_seconds, target_service_level, answer_within_seconds,
                          max_occupancy=max_occupancy, shrinkage=shrinkage, patience_seconds=patience_seconds,
                          agents=agents)
    except StaffingInputError as exc:
        raise click.UsageError(str(exc)) from exc
    lines = [("raw_agents", str(result.raw_agents)), ("agents", str(result.agents)),
             ("service_level", f"{result.service_level:.4f}"), ("occupancy", f"{result.occupancy:.4f}"),
             ("wait_probability", f"{result.wait_probability:.4f}"), ("asa_seconds", f"{result.asa_seconds:.1f}")]
    if result.abandon_probability is not None:
        lines.append(("abandon_probability", f"{result.abandon_probability:.4f}"))
    for name, value in lines:
        click.echo(f"{name} {value}")


def _passphrase(variable: str | None) -> str | None:
    """The backup passphrase from the environment variable named on the command line, else BACKUP_PASSPHRASE:
    never the passphrase itself as an argument, which `ps` and shell history would show."""
    from flask import current_app

    if variable is None:
        return current_app.config["BACKUP_PASSPHRASE"]
    value = os.environ.get(variable)
    if not value:
        raise click.UsageError(f"--passphrase-env {variable}: that environment variable is not set")
    return value


@main.command("backup")
@click.option("--output", type=click.Path(dir_okay=False, path_type=Path),
              help="File to write (default: BACKUP_DIR/callcenter-<UTC time>.ccbackup).")
@click.option("--passphrase-env", metavar="VAR",
              help="Encrypt with the passphrase in environment variable VAR (default: BACKUP_PASSPHRASE, if set).")
def backup_command(output: Path | None, passphrase_env: str | None) -> None:
    """Write a consistent, compressed backup of the database (SQLite backup API or pg_dump)."""
    from flask import current_app

    from callcenter.extensions import db
    from callcenter.services import backups

    target = output or backups.default_path(Path(current_app.config["BACKUP_DIR"]))
    try:
        info = backups.write_backup(db.engine, target, passphrase=_passphrase(passphrase_env))
    except (backups.BackupError, RuntimeError) as exc:
        raise click.ClickException(str(exc)) from None
    encrypted = ", encrypted" if info.encrypted else ""
    click.echo(f"Backup written to {info.path} ({info.size} bytes, {info.backend} at revision {info.revision}"
               f"{encrypted}).")


@main.command("restore")
@click.argument("file", type=click.Path(dir_okay=False, exists=True, path_type=Path))
@click.option("--force", is_flag=True, help="Replace the content of a database that is not empty.")
@click.option("--passphrase-env", metavar="VAR",
              help="The passphrase of an encrypted backup is in environment variable VAR (default: BACKUP_PASSPHRASE).")
def restore_command(file: Path, force: bool, passphrase_env: str | None) -> None:
    """Replace the database's content by a backup's. Stop the web and worker processes first."""
    from callcenter import migrate
    from callcenter.extensions import db
    from callcenter.services import backups

    try:
        info = backups.restore_backup(db.engine, file, passphrase=_passphrase(passphrase_env), force=force)
    except (backups.BackupError, RuntimeError) as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"Restored {file} (written {info.created_at}, revision {info.revision}).")
    if migrate.current_revision(db.engine) != migrate.head_revision():
        click.echo("The schema is older than this version's: run `callcenter db upgrade`.")


@main.command("seed")
def seed_command() -> None:
    """Load the demo data (once: skipped when users exist)."""
    from flask import current_app

    from callcenter.extensions import db
    from callcenter.seed import DEMO_PASSWORD, demo_refused, seed_demo

    refused = demo_refused(current_app.config)
    if refused:
        raise click.ClickException(f"Not seeding: {refused}.")
    result = seed_demo(db.session)
    if result.created:
        click.echo(f"Seeded {result.users} users and {result.contacts} contacts; demo password: {DEMO_PASSWORD}")
    else:
        click.echo("The database already has users; nothing seeded.")


from callcenter.cli_ivr import ivr_group  # noqa: E402
from callcenter.cli_recordings import queue_group  # noqa: E402

main.add_command(ivr_group)
main.add_command(queue_group)
