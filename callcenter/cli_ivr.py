"""`callcenter ivr`: import, export, check and list IVR flows from files (the admin page's twin for scripts)."""

from __future__ import annotations

from pathlib import Path

import click
from flask.cli import AppGroup

ivr_group = AppGroup("ivr", help="IVR flows (one menu tree per phone number).")


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise click.ClickException(f"Cannot read {path}: {exc}") from None


def _fail_with_problems(exc) -> None:
    from callcenter.services.ivr_flows import FlowValidationFailed

    if isinstance(exc, FlowValidationFailed):
        click.echo(f"The flow has {len(exc.problems)} problem(s):", err=True)
        for problem in exc.problems:
            click.echo(f"  {problem}", err=True)
        raise click.exceptions.Exit(1)
    raise click.ClickException(exc.message)


@ivr_group.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--format", "fmt", type=click.Choice(["yaml", "json"]), help="Default: from the file name.")
def import_command(file: Path, fmt: str | None) -> None:
    """Validate FILE (JSON or YAML) and store it as the flow for its number (a new version if one exists)."""
    from callcenter.extensions import db
    from callcenter.services import ivr_flows
    from callcenter.services.errors import DomainError

    try:
        definition = ivr_flows.parse_definition(_read(file), fmt or file.name)
        flow = ivr_flows.save_flow(db.session, None, definition)
        db.session.commit()
    except DomainError as exc:
        db.session.rollback()
        _fail_with_problems(exc)
        return
    click.echo(f"Imported {flow.name!r} for {flow.phone_number}, version {flow.version}.")


@ivr_group.command("check")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--format", "fmt", type=click.Choice(["yaml", "json"]), help="Default: from the file name.")
def check_command(file: Path, fmt: str | None) -> None:
    """Validate FILE against this database without saving it."""
    from callcenter.extensions import db
    from callcenter.services import ivr_flows
    from callcenter.services.errors import DomainError

    try:
        problems = ivr_flows.validate_flow(db.session, ivr_flows.parse_definition(_read(file), fmt or file.name))
        if problems:
            raise ivr_flows.FlowValidationFailed(problems)
    except DomainError as exc:
        _fail_with_problems(exc)
        return
    click.echo(f"{file} is a valid flow.")


@ivr_group.command("export")
@click.argument("number")
@click.option("--format", "fmt", type=click.Choice(["yaml", "json"]), default="yaml", show_default=True)
@click.option("-o", "--output", type=click.Path(dir_okay=False, writable=True, path_type=Path),
              help="Write to this file instead of standard output.")
def export_command(number: str, fmt: str, output: Path | None) -> None:
    """Print (or write) the flow answering NUMBER, active or not, in a form `ivr import` takes back."""
    from sqlalchemy import select

    from callcenter.extensions import db
    from callcenter.models import IvrFlow
    from callcenter.services import ivr_flows
    from callcenter.services.errors import DomainError
    from callcenter.services.phones import to_e164

    try:
        e164 = to_e164(number)
    except DomainError as exc:
        raise click.ClickException(exc.message) from None
    flow = db.session.scalar(select(IvrFlow).where(IvrFlow.phone_number == e164))
    if flow is None:
        raise click.ClickException(f"No IVR flow for {e164}.")
    text = ivr_flows.dump_definition(flow.definition, fmt)
    if output is None:
        click.echo(text, nl=False)
    else:
        output.write_text(text, encoding="utf-8")
        click.echo(f"Wrote version {flow.version} of {e164} to {output}.", err=True)


@ivr_group.command("list")
def list_command() -> None:
    """The flows: number, name, version, active."""
    from callcenter.extensions import db
    from callcenter.services import ivr_flows

    flows = ivr_flows.list_flows(db.session)
    if not flows:
        click.echo("No IVR flows.")
    for flow in flows:
        click.echo(f"{flow.phone_number}\t{flow.name}\tv{flow.version}\t{'active' if flow.active else 'inactive'}")
