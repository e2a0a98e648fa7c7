"""Scheduled reports: a job the ticker enqueues every quarter of an hour (once per quarter, whatever the workers)."""

from __future__ import annotations

from datetime import datetime

import redis
from flask import Flask, current_app
from flask_babel import force_locale

from callcenter.i18n import translate
from callcenter.services import report_schedules
from callcenter.services.jobs import Deferred
from callcenter.services.messages import DEFAULT_LANGUAGE, Message
from callcenter.services.metrics import Thresholds
from callcenter.services.outbound_messages import SmtpSettings
from workers.jobs import enqueue_once, job_session
from workers.messages import outbox_folder

SCHEDULED_REPORTS_JOB = "workers.reports.send_scheduled_reports"
QUARTER_KEY = "cc:reports:quarter:{quarter}"
TIMEOUT_SECONDS = 600


def in_language(message: Message, language: str | None) -> str:
    """A message in the reader's language (their profile's), outside any request."""
    with force_locale(language or DEFAULT_LANGUAGE):
        return translate(message)


def send_scheduled_reports(now: datetime | str | None = None) -> list[int]:
    """Mail each schedule's last finished day or week once (services.report_schedules.send_due); `now` (a datetime
    or ISO text) lets tests move time."""
    moment = datetime.fromisoformat(now) if isinstance(now, str) else now
    config = current_app.config
    mailer = report_schedules.Mailer(smtp=SmtpSettings.from_config(config), outbox=outbox_folder(),
                                     mail_from=config["MAIL_FROM"], render=in_language)
    with job_session() as session:
        return report_schedules.send_due(session, moment or datetime.now().astimezone(), mailer,
                                         Thresholds.from_config(config))


def schedule_reports(app: Flask, r: redis.Redis, now: float) -> bool:
    """Enqueue this quarter hour's pass unless a worker's ticker did (a key per quarter, set once)."""
    quarter = int(now // 900)
    return enqueue_once(app, r, QUARTER_KEY.format(quarter=quarter),
                        Deferred(SCHEDULED_REPORTS_JOB, (), key=f"scheduled-reports-{quarter}", queue="default",
                                 timeout=TIMEOUT_SECONDS), 3600, now)
