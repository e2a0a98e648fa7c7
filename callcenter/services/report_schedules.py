"""Scheduled reports: a report mailed as CSV once each day or week is over, in its owner's scope and time zone.

The ticker enqueues `workers.reports.send_scheduled_reports` every quarter of an hour; the job (`send_due`) finds
the schedules whose last finished period was not mailed yet and, for each, claims that period with one conditional
UPDATE (committed) before mailing, so two runs at once, or a run repeated, mail a period once. The e-mail goes
through services.outbound_messages.send_email: SMTP when configured, else an .eml in the instance outbox.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from callcenter.models import ReportSchedule, Role, User, utcnow
from callcenter.services import metrics, reports
from callcenter.services.errors import NotFound, ValidationFailed
from callcenter.services.messages import Message, t
from callcenter.services.metrics import Thresholds
from callcenter.services.outbound_messages import SmtpSettings, _valid_email, send_email

EVERY = ("day", "week")


def create_schedule(session: Session, owner: User, *, kind: str, every: str, interval: str,
                    email: str) -> ReportSchedule:
    """A new schedule of the owner's; committed."""
    if kind not in reports.KINDS:
        raise ValidationFailed(t("A report is one of %(values)s", values=", ".join(reports.KINDS)), field="kind")
    if every not in EVERY:
        raise ValidationFailed(t("Send it every day or every week"), field="every")
    if interval not in metrics.INTERVALS:
        raise ValidationFailed(t("interval is one of %(values)s", values=", ".join(metrics.INTERVALS)),
                               field="interval")
    schedule = ReportSchedule(owner_id=owner.id, kind=kind, every=every, interval=interval,
                              email=_valid_email(email))
    session.add(schedule)
    session.commit()
    return schedule


def _visible(viewer: User):
    return ReportSchedule.owner_id == viewer.id if viewer.role != Role.ADMIN.value else ReportSchedule.id > 0


def list_schedules(session: Session, viewer: User) -> list[ReportSchedule]:
    """The viewer's schedules (an admin: everybody's)."""
    return list(session.scalars(select(ReportSchedule).where(_visible(viewer)).order_by(ReportSchedule.id)))


def delete_schedule(session: Session, viewer: User, schedule_id: int) -> None:
    schedule = session.scalar(select(ReportSchedule).where(ReportSchedule.id == schedule_id, _visible(viewer)))
    if schedule is None:
        raise NotFound(t("Schedule %(id)s not found", id=schedule_id))
    session.delete(schedule)
    session.commit()


def last_period(every: str, zone: reports.ZoneInfo, now: datetime) -> tuple[datetime, datetime]:
    """The last whole day (or Monday-to-Sunday week) before `now` on the wall clock of `zone`."""
    today = now.astimezone(zone).date()
    if every == "week":
        end_day = today - timedelta(days=today.weekday())
        return (datetime.combine(end_day - timedelta(weeks=1), time(), zone), datetime.combine(end_day, time(), zone))
    return datetime.combine(today - timedelta(days=1), time(), zone), datetime.combine(today, time(), zone)


@dataclass(frozen=True)
class Mailer:
    smtp: SmtpSettings | None
    outbox: Path
    mail_from: str
    # A message in a language (the owner's, None: the default): the worker's edge has the catalogues.
    render: Callable[[Message, str | None], str] = lambda message, language: str(message)


def _claim(session: Session, schedule: ReportSchedule, period: str) -> bool:
    """Take the period for this run (one conditional UPDATE, committed): False when another run took it."""
    taken = session.execute(
        update(ReportSchedule)
        .where(ReportSchedule.id == schedule.id,
               or_(ReportSchedule.last_period.is_(None), ReportSchedule.last_period != period))
        .values(last_period=period, last_sent_at=utcnow())).rowcount
    session.commit()
    return taken == 1


def report_email(schedule: ReportSchedule, start: datetime, end: datetime, csv_text: str, mail_from: str,
                 render: Callable[[Message], str] = str) -> EmailMessage:
    """The e-mail with the CSV attached; `render` puts a message in the owner's language."""
    email = EmailMessage()
    email["From"] = mail_from
    email["To"] = schedule.email
    email["Subject"] = render(t("callcenter: %(kind)s report from %(day)s", kind=schedule.kind,
                                day=start.date().isoformat()))
    email["Date"] = formatdate(localtime=False)
    domain = mail_from.rpartition("@")[2] or "localhost"
    email["Message-ID"] = make_msgid(idstring=f"report{schedule.id}", domain=domain)
    email.set_content(render(t("The %(kind)s report from %(start)s to %(end)s, per %(interval)s, is attached "
                               "(formulas: docs/metrics.md, version %(version)s).", kind=schedule.kind,
                               start=start.isoformat(), end=end.isoformat(), interval=schedule.interval,
                               version=metrics.METRICS_VERSION)) + "\n")
    filename = f"{schedule.kind}-{start.date().isoformat()}.csv"
    email.add_attachment(csv_text.encode("utf-8"), maintype="text", subtype="csv", filename=filename)
    return email


def send_due(session: Session, now: datetime, mailer: Mailer, thresholds: Thresholds) -> list[int]:
    """Mail every active schedule's last finished period not mailed yet; the ids of the schedules mailed."""
    sent = []
    for schedule in session.scalars(select(ReportSchedule).where(ReportSchedule.active.is_(True))
                                    .order_by(ReportSchedule.id)).all():
        owner = session.get(User, schedule.owner_id)
        if owner is None or not owner.active:
            continue
        zone = reports.zone_of(owner.time_zone)
        start, end = last_period(schedule.every, zone, now)
        period = start.date().isoformat()
        if schedule.last_period == period or not _claim(session, schedule, period):
            continue
        query = reports.ReportQuery(start=start, end=end, interval=schedule.interval, zone=zone)
        rows = reports.with_total_label(reports.run(session, owner, schedule.kind, query, thresholds),
                                        mailer.render(t("All"), owner.language))
        csv_text = reports.to_csv(schedule.kind, rows)
        email = report_email(schedule, start, end, csv_text, mailer.mail_from,
                             lambda message, language=owner.language: mailer.render(message, language))
        send_email(email, mailer.smtp, mailer.outbox, f"report-{schedule.id}-{period}")
        sent.append(schedule.id)
    return sent
