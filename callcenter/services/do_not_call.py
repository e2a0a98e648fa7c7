"""Do-not-call lists: our own (`internal`) and imported national/partner lists (`imported`).

Admins and supervisors manage them; the dialing gate (services.dialing_gate) refuses any number on either. An
import is all or nothing: every row is parsed to E.164 first, and one rejected row means nothing is written, so
a list is never half on file.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from callcenter.models import DoNotCall, Role, User
from callcenter.services import audit
from callcenter.services.errors import Conflict, DomainError, Forbidden, NotFound, ValidationFailed
from callcenter.services.messages import Message, t
from callcenter.services.phones import to_e164

SOURCES = ("internal", "imported")
MAX_IMPORT_ROWS = 100_000
NUMBER_COLUMNS = ("number", "phone", "phone_e164", "e164", "telephone")


def _require_manager(actor: User | None) -> None:
    """DNC lists change who may be called at all: admins and supervisors only (None: the CLI, trusted)."""
    if actor is not None and actor.role not in (Role.ADMIN.value, Role.SUPERVISOR.value):
        raise Forbidden(t("Only admins and supervisors may change do-not-call lists"))


def _check_source(source: str) -> None:
    if source not in SOURCES:
        raise ValidationFailed(t("The source must be internal or imported"), field="source")


def add(session: Session, actor: User | None, raw: str, *, source: str = "internal", reason: str = "",
        region: str = "US") -> DoNotCall:
    """Put a number on a list (Conflict when it is already there); committed and audited."""
    _require_manager(actor)
    _check_source(source)
    number = to_e164(raw, region, field="number")
    if session.scalar(select(DoNotCall).where(DoNotCall.phone_e164 == number, DoNotCall.source == source)):
        raise Conflict(t("%(number)s is already on that do-not-call list", number=number), field="number")
    entry = DoNotCall(phone_e164=number, source=source, reason=reason[:200],
                      added_by_id=actor.id if actor is not None else None)
    session.add(entry)
    session.flush()
    audit.record(session, "dnc.add", actor_id=entry.added_by_id, entity=entry, number=number, source=source)
    session.commit()
    return entry


def list_entries(session: Session, actor: User, *, q: str = "", source: str | None = None, limit: int = 25,
                 offset: int = 0) -> tuple[list[DoNotCall], int]:
    """Listed numbers, newest first, filtered by a digit fragment and a source; with the total."""
    _require_manager(actor)
    query = select(DoNotCall)
    digits = "".join(c for c in q if c.isdigit())
    if digits:
        query = query.where(DoNotCall.phone_e164.contains(digits))
    if source:
        _check_source(source)
        query = query.where(DoNotCall.source == source)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    items = session.scalars(query.order_by(DoNotCall.added_at.desc(), DoNotCall.id.desc())
                            .limit(limit).offset(offset)).all()
    return list(items), total


def remove(session: Session, actor: User | None, entry_id: int) -> None:
    """Take a number off a list; committed and audited."""
    _require_manager(actor)
    entry = session.get(DoNotCall, entry_id)
    if entry is None:
        raise NotFound(t("Do-not-call entry %(entry_id)s not found", entry_id=entry_id), field="entry_id")
    audit.record(session, "dnc.remove", actor_id=actor.id if actor is not None else None, entity=entry,
                 number=entry.phone_e164, source=entry.source)
    session.delete(entry)
    session.commit()


@dataclass(frozen=True)
class ImportRow:
    """One row of an import: its line, what it said, and its E.164 or why it was rejected."""

    line: int
    raw: str
    number: str | None = None
    status: str = "added"  # added, already_listed, duplicate, rejected
    error: Message | None = None


@dataclass
class ImportReport:
    rows: list[ImportRow] = field(default_factory=list)
    committed: bool = False

    @property
    def rejected(self) -> int:
        return sum(1 for row in self.rows if row.status == "rejected")

    @property
    def added(self) -> int:
        return sum(1 for row in self.rows if row.status == "added") if self.committed else 0


def import_csv(session: Session, actor: User | None, text: str, *, source: str = "imported", reason: str = "",
               region: str = "US") -> ImportReport:
    """Parse a CSV of numbers (a header naming a number column, or the numbers in the first column) and list
    them all, or — when any row is rejected — none (the report says which rows and why)."""
    _require_manager(actor)
    _check_source(source)
    rows = [r for r in csv.reader(io.StringIO(text.lstrip("\ufeff")))]
    column, start = 0, 0
    if rows:
        header = [cell.strip().lower() for cell in rows[0]]
        named = [i for i, name in enumerate(header) if name in NUMBER_COLUMNS]
        if named:
            column, start = named[0], 1
    if len(rows) - start > MAX_IMPORT_ROWS:
        raise ValidationFailed(t("At most %(limit)s rows per import", limit=MAX_IMPORT_ROWS), field="csv")
    listed = set(session.scalars(select(DoNotCall.phone_e164).where(DoNotCall.source == source)))
    seen: set[str] = set()
    report = ImportReport()
    for index, cells in enumerate(rows[start:], start=start + 1):
        raw = cells[column].strip() if column < len(cells) else ""
        if not raw and not any(c.strip() for c in cells):
            continue  # blank line
        try:
            number = to_e164(raw, region, field="number")
        except DomainError as exc:
            report.rows.append(ImportRow(index, raw, status="rejected", error=exc.message))
            continue
        status = "already_listed" if number in listed else "duplicate" if number in seen else "added"
        seen.add(number)
        report.rows.append(ImportRow(index, raw, number, status))
    if report.rejected:
        return report
    actor_id = actor.id if actor is not None else None
    session.add_all(DoNotCall(phone_e164=row.number, source=source, reason=reason[:200], added_by_id=actor_id)
                    for row in report.rows if row.status == "added")
    report.committed = True
    audit.record(session, "dnc.import", actor_id=actor_id, source=source, added=report.added,
                 rows=len(report.rows))
    session.commit()
    return report
