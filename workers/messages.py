"""Messages to customers: the send job, keyed by its outbound_messages row (services.outbound_messages)."""

from __future__ import annotations

from pathlib import Path

from flask import current_app

from callcenter.services import outbound_messages
from callcenter.telephony import get_provider
from workers.jobs import job_session


def outbox_folder() -> Path:
    """Where e-mails go when no SMTP server is configured: the instance folder's outbox."""
    return Path(current_app.instance_path) / "outbox"


def send_message(message_id: int) -> None:
    """Send one queued message; a message already claimed (sending, sent, failed) is left alone, so the job may
    run twice. A carrier or mail server out of reach queues the row again and raises: RQ retries it."""
    with job_session() as session:
        outbound_messages.deliver(session, message_id, get_provider(),
                                  smtp=outbound_messages.SmtpSettings.from_config(current_app.config),
                                  outbox=outbox_folder())
