"""`callcenter queue recording-policy NAME POLICY`: whether a queue's calls are recorded (off, all, on_demand)."""

from __future__ import annotations

import click

from callcenter.models.recordings import RECORDING_POLICIES


@click.group("queue")
def queue_group() -> None:
    """Queues."""


@queue_group.command("recording-policy")
@click.argument("name")
@click.argument("policy", type=click.Choice(RECORDING_POLICIES))
def recording_policy(name: str, policy: str) -> None:
    """off: never recorded; all: consent prompt and every answered call recorded; on_demand: consent prompt and
    agents may record from the console."""
    from callcenter.extensions import db
    from callcenter.services import recordings
    from callcenter.services.errors import DomainError

    try:
        queue = recordings.set_queue_policy(db.session, name, policy)
    except DomainError as exc:
        db.session.rollback()
        raise click.ClickException(exc.message) from None
    click.echo(f"Queue {queue.name}: recording {queue.recording_policy}.")
