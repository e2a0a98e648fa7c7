"""A generic CSV import: map the file's columns onto fields, check every row, report each row that is rejected or
flagged with its line number and reason, then hand the good rows to a target (a campaign's list, or the contacts
of the back office: services.contact_import) to write.

Columns map onto the target's `fields` (`FIELDS` for a campaign, `CONTACT_FIELDS` for contacts) or onto
`custom:<name>` (kept with the row, e.g. a lead's custom fields); a column mapped to nothing is ignored. Per row:

- rejected (an error in the data): no phone, a phone no country uses (read in the list's default region when it
  is not in +international form; the same for a second number), an email without "@", a priority that is not a
  whole number in range, a consent value that is neither yes/no nor a date, a language the product does not speak;
- skipped (flagged, not an error): the same number as an earlier line, or a number the target already has;
- flagged and kept: a number on a do-not-call list (the target decides what that means: a campaign imports the
  lead as blocked, so it is never dialled).

With `all_or_nothing` (the default) one rejected row means nothing is written, and the report lists every
rejected row; otherwise the good rows are written. Either way the write is one transaction, so a list is never
half imported, and a job that runs again after it finished changes nothing (`ListImport.status` is `done`).

The uploaded file waits in Redis (for a day) between the upload and the job that imports it: jobs take ids only.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any, Protocol

import redis
from sqlalchemy.orm import Session

from callcenter.models import ListImport, User, utcnow
from callcenter.services import audit, jobs
from callcenter.services.errors import Conflict, DomainError, NotFound, ValidationFailed
from callcenter.services.locales import check_language
from callcenter.services.messages import Message, t
from callcenter.services.phones import to_e164

FIELDS = ("phone", "first_name", "last_name", "email", "account", "priority", "consent")
# A contact's fields: `name` is the name as one piece (Contact.full_name), `phone2` a second number.
CONTACT_FIELDS = ("phone", "phone2", "name", "first_name", "last_name", "email", "account", "language")
CUSTOM_PREFIX = "custom:"
IGNORE = ""
MAX_ROWS = 100_000
MAX_CUSTOM_NAME = 60
MAX_CELL = 1_000
PRIORITY_RANGE = (-100, 100)
PROGRESS_EVERY = 500
FILE_TTL_SECONDS = 24 * 3600
YES = {"yes", "y", "true", "1", "x", "ok", "是", "同意"}
NO = {"", "no", "n", "false", "0", "否", "不同意"}
# Guessing a mapping from the header: lowercased, spaces and dashes as underscores.
HEADER_GUESSES = {
    "phone": "phone", "number": "phone", "phone_number": "phone", "telephone": "phone", "mobile": "phone",
    "tel": "phone", "e164": "phone", "电话": "phone", "手机": "phone",
    "first_name": "first_name", "firstname": "first_name", "first": "first_name", "given_name": "first_name",
    "名": "first_name",
    "last_name": "last_name", "lastname": "last_name", "last": "last_name", "surname": "last_name",
    "family_name": "last_name", "姓": "last_name",
    "email": "email", "e_mail": "email", "mail": "email", "邮箱": "email",
    "account": "account", "company": "account", "organisation": "account", "organization": "account",
    "公司": "account",
    "priority": "priority", "优先级": "priority",
    "consent": "consent", "opt_in": "consent", "optin": "consent",
    "name": "name", "full_name": "name", "姓名": "name",
    "phone2": "phone2", "phone_2": "phone2", "other_phone": "phone2", "second_phone": "phone2",
    "work_phone": "phone2", "landline": "phone2", "座机": "phone2",
    "language": "language", "lang": "language", "locale": "language", "语言": "language",
}

# Why a row was rejected or flagged: code -> (status, message). Messages take the entry's `params`.
REASONS: dict[str, tuple[str, str]] = {
    "missing_phone": ("rejected", "No phone number"),
    "invalid_phone": ("rejected", "%(raw)r is not a possible phone number"),
    "invalid_email": ("rejected", "%(raw)r is not an email address"),
    "invalid_priority": ("rejected", "The priority must be a whole number from -100 to 100, not %(raw)r"),
    "invalid_consent": ("rejected", "Consent is yes, no or a date (YYYY-MM-DD), not %(raw)r"),
    "too_long": ("rejected", "The %(column)s column is longer than 1000 characters"),
    "duplicate_in_file": ("skipped", "The same number as line %(other)s"),
    "already_present": ("skipped", "Already in the list"),
    "already_a_contact": ("skipped", "A contact already has this number"),
    "invalid_language": ("rejected", "%(raw)r is not a language of the product"),
    "do_not_call": ("flagged", "On the do-not-call list: imported as blocked, never dialled"),
}
# Listed so `pybabel extract` finds the messages above (their ids are those strings).
_MESSAGES = (t("No phone number"), t("%(raw)r is not a possible phone number"),
             t("%(raw)r is not an email address"),
             t("The priority must be a whole number from -100 to 100, not %(raw)r"),
             t("Consent is yes, no or a date (YYYY-MM-DD), not %(raw)r"),
             t("The %(column)s column is longer than 1000 characters"), t("The same number as line %(other)s"),
             t("Already in the list"), t("On the do-not-call list: imported as blocked, never dialled"),
             t("A contact already has this number"), t("%(raw)r is not a language of the product"))


def reason_message(entry: dict[str, Any]) -> Message:
    """The translatable text of one report entry."""
    _, text = REASONS.get(entry.get("code", ""), ("rejected", entry.get("code", "")))
    return t(text, **(entry.get("params") or {}))


@dataclass
class Row:
    """One data row: its line in the file (the header is line 1), mapped values, and what was found wrong."""

    line: int
    phone: str | None = None
    values: dict[str, Any] = field(default_factory=dict)
    custom: dict[str, str] = field(default_factory=dict)
    problems: list[dict[str, Any]] = field(default_factory=list)

    @property
    def status(self) -> str:
        """ok, rejected, skipped or flagged (the worst of its problems)."""
        found = {REASONS[p["code"]][0] for p in self.problems}
        for status in ("rejected", "skipped", "flagged"):
            if status in found:
                return status
        return "ok"

    @property
    def writable(self) -> bool:
        return self.status in ("ok", "flagged")

    @property
    def flags(self) -> set[str]:
        return {p["code"] for p in self.problems}


@dataclass
class Validation:
    """Every row checked; `report` is what ListImport.report keeps (one entry per problem, in line order)."""

    header: list[str]
    rows: list[Row]

    @property
    def rejected(self) -> int:
        return sum(1 for r in self.rows if r.status == "rejected")

    @property
    def writable(self) -> list[Row]:
        return [r for r in self.rows if r.writable]

    @property
    def report(self) -> list[dict[str, Any]]:
        return [{"line": row.line, "status": REASONS[p["code"]][0], "code": p["code"], "params": p["params"],
                 "message": str(reason_message(p))}
                for row in self.rows for p in row.problems]

    def would_import(self, all_or_nothing: bool) -> int:
        return 0 if all_or_nothing and self.rejected else len(self.writable)


class Target(Protocol):
    """Where the good rows go: `fields` it takes (a column maps onto one of them), the code a number it already
    has is reported with, and how it reads and writes."""

    fields: tuple[str, ...]
    present_code: str

    def known_numbers(self, session: Session, import_id: int | None) -> set[str]:
        """Numbers already there (skipped as duplicates), not counting rows written by import `import_id`."""

    def imported_by(self, session: Session, import_id: int) -> set[str]:
        """Numbers import `import_id` wrote already (a job run again finds them and writes nothing twice)."""

    def blocked_numbers(self, session: Session, numbers: set[str]) -> set[str]:
        """Which of `numbers` are on a do-not-call list."""

    def write(self, session: Session, rows: list[Row], import_id: int | None, now: datetime) -> int:
        """Add the rows (not committed); returns how many were written."""


# --- reading and mapping ------------------------------------------------------------------------------------------


def read_rows(text: str) -> tuple[list[str], list[tuple[int, list[str]]]]:
    """The header and the data rows with their line numbers (blank lines skipped)."""
    reader = csv.reader(io.StringIO(text.lstrip("\ufeff")))
    try:
        header = [cell.strip() for cell in next(reader)]
    except StopIteration:
        raise ValidationFailed(t("The file is empty"), field="file") from None
    except csv.Error as exc:
        raise ValidationFailed(t("The file is not CSV: %(error)s", error=str(exc)), field="file") from None
    if not any(header):
        raise ValidationFailed(t("The first line must name the columns"), field="file")
    rows: list[tuple[int, list[str]]] = []
    try:
        for cells in reader:
            if len(rows) >= MAX_ROWS:
                raise ValidationFailed(t("At most %(limit)s rows per import", limit=MAX_ROWS), field="file")
            if any(cell.strip() for cell in cells):
                rows.append((reader.line_num, cells))
    except csv.Error as exc:
        raise ValidationFailed(t("Line %(line)s is not valid CSV: %(error)s", line=reader.line_num,
                                 error=str(exc)), field="file") from None
    return header, rows


def decode(raw: bytes) -> str:
    """The uploaded bytes as text: UTF-8 (with or without BOM), else refused."""
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ValidationFailed(t("The file is not UTF-8 text"), field="file") from None


def guess_mapping(header: list[str], fields: tuple[str, ...] = FIELDS) -> dict[str, str]:
    """A first mapping for the form: known column names onto `fields`, the others kept as custom fields."""
    mapping: dict[str, str] = {}
    used: set[str] = set()
    for name in header:
        if not name:
            continue
        key = re.sub(r"[\s\-]+", "_", name.strip().lower())
        guess = HEADER_GUESSES.get(key)
        if guess and guess in fields and guess not in used:
            mapping[name] = guess
            used.add(guess)
        else:
            mapping[name] = CUSTOM_PREFIX + name.strip()[:MAX_CUSTOM_NAME]
    return mapping


def check_mapping(header: list[str], mapping: dict[str, str], fields: tuple[str, ...] = FIELDS) -> dict[int, str]:
    """The mapping (header name -> field) as column index -> field; ValidationFailed names the mistake."""
    if not isinstance(mapping, dict):
        raise ValidationFailed(t("The mapping must name a field for each column"), field="mapping")
    columns: dict[int, str] = {}
    used: dict[str, str] = {}
    for name, target in mapping.items():
        if not isinstance(name, str) or not isinstance(target, str):
            raise ValidationFailed(t("The mapping must name a field for each column"), field="mapping")
        target = target.strip()
        if target == IGNORE:
            continue
        if name not in header:
            raise ValidationFailed(t("The file has no column %(column)r", column=name), field="mapping")
        if target.startswith(CUSTOM_PREFIX):
            custom = target[len(CUSTOM_PREFIX):].strip()
            if not custom or len(custom) > MAX_CUSTOM_NAME or any(c in custom for c in "{}"):
                raise ValidationFailed(t("A custom field needs a name of 1 to %(limit)s characters, without "
                                         "braces", limit=MAX_CUSTOM_NAME), field="mapping")
            target = CUSTOM_PREFIX + custom
        elif target not in fields:
            raise ValidationFailed(t("%(target)r is not a field; use one of %(fields)s or custom:<name>",
                                     target=target, fields=", ".join(fields)), field="mapping")
        if target in used:
            raise ValidationFailed(t("Columns %(first)r and %(second)r both map to %(target)s", first=used[target],
                                     second=name, target=target), field="mapping")
        used[target] = name
        columns[header.index(name)] = target
    if "phone" not in used:
        raise ValidationFailed(t("Map one column to the phone number"), field="mapping")
    return columns


# --- checking rows ------------------------------------------------------------------------------------------------


def _problem(row: Row, code: str, **params: Any) -> None:
    row.problems.append({"code": code, "params": params})


def parse_consent(raw: str) -> datetime | bool | None:
    """yes/no words (English or Chinese) or an ISO date; None when it is neither."""
    value = raw.strip().lower()
    if value in YES:
        return True
    if value in NO:
        return False
    try:
        day = date.fromisoformat(value[:10])
    except ValueError:
        return None
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def _check_row(line: int, cells: list[str], columns: dict[int, str], region: str) -> Row:
    row = Row(line)
    for index, target in columns.items():
        raw = cells[index].strip() if index < len(cells) else ""
        if len(raw) > MAX_CELL:
            _problem(row, "too_long", column=target)
            continue
        if target.startswith(CUSTOM_PREFIX):
            if raw:
                row.custom[target[len(CUSTOM_PREFIX):]] = raw
        elif target == "phone":
            if not raw:
                _problem(row, "missing_phone")
            else:
                try:
                    row.phone = to_e164(raw, region)
                except DomainError:
                    _problem(row, "invalid_phone", raw=raw)
        elif target == "phone2":
            if raw:
                try:
                    row.values["phone2"] = to_e164(raw, region)
                except DomainError:
                    _problem(row, "invalid_phone", raw=raw)
        elif target == "language":
            if raw:
                try:
                    row.values["language"] = check_language(raw)
                except DomainError:
                    _problem(row, "invalid_language", raw=raw)
        elif target == "email":
            if raw and ("@" not in raw or raw.startswith("@") or raw.endswith("@")):
                _problem(row, "invalid_email", raw=raw)
            elif raw:
                row.values["email"] = raw.lower()
        elif target == "priority":
            if raw:
                try:
                    priority = int(raw)
                except ValueError:
                    priority = None
                if priority is None or not PRIORITY_RANGE[0] <= priority <= PRIORITY_RANGE[1]:
                    _problem(row, "invalid_priority", raw=raw)
                else:
                    row.values["priority"] = priority
        elif target == "consent":
            consent = parse_consent(raw)
            if consent is None:
                _problem(row, "invalid_consent", raw=raw)
            elif consent is not False:
                row.values["consent"] = consent
        else:
            row.values[target] = raw[:200] if target in ("account", "name") else raw[:100]
    return row


def validate(session: Session, text: str, mapping: dict[str, str], target: Target, *, region: str,
             import_id: int | None = None, progress: Callable[[int], None] | None = None) -> Validation:
    """Check every row of `text` against `mapping` and what `target` already holds; writes nothing."""
    header, data = read_rows(text)
    columns = check_mapping(header, mapping, target.fields)
    known = target.known_numbers(session, import_id)
    seen: dict[str, int] = {}
    rows: list[Row] = []
    for count, (line, cells) in enumerate(data, start=1):
        row = _check_row(line, cells, columns, region)
        if row.phone is not None:
            if row.phone in seen:
                _problem(row, "duplicate_in_file", other=seen[row.phone])
            else:
                seen[row.phone] = line
                if row.phone in known:
                    _problem(row, target.present_code)
        rows.append(row)
        if progress is not None and count % PROGRESS_EVERY == 0:
            progress(count)
    candidates = {r.phone for r in rows if r.phone is not None and r.writable}
    blocked = target.blocked_numbers(session, candidates)
    for row in rows:
        if row.phone in blocked and row.writable:
            _problem(row, "do_not_call")
    if progress is not None:
        progress(len(rows))
    return Validation(header, rows)


# --- the ListImport lifecycle -------------------------------------------------------------------------------------


def file_key(import_id: int) -> str:
    return f"cc:imports:{import_id}:file"


def stash_file(r: redis.Redis, import_id: int, text: str) -> None:
    """Keep the uploaded text for the job that imports it (and for a dry run before)."""
    r.set(file_key(import_id), text.encode("utf-8"), ex=FILE_TTL_SECONDS)


def stashed_file(r: redis.Redis, import_id: int) -> str | None:
    raw = r.get(file_key(import_id))
    return raw.decode("utf-8") if isinstance(raw, bytes) else raw


def create_import(session: Session, r: redis.Redis, actor: User | None, *, campaign_id: int | None, filename: str,
                  text: str, mapping: dict[str, str] | None = None, all_or_nothing: bool = True,
                  fields: tuple[str, ...] = FIELDS) -> ListImport:
    """Record an upload (pending) and keep its text; the mapping defaults to a guess from the header.

    `campaign_id` None is an import into the contacts (`fields` then CONTACT_FIELDS)."""
    header, data = read_rows(text)
    chosen = mapping if mapping is not None else guess_mapping(header, fields)
    check_mapping(header, chosen, fields)
    safe_name = (filename or "").replace("\x00", "").encode("utf-8", "ignore").decode("utf-8")[:200]
    entry = ListImport(campaign_id=campaign_id, filename=safe_name or "upload.csv", status="pending",
                       all_or_nothing=all_or_nothing, mapping=chosen, total_rows=len(data), processed_rows=0,
                       imported_rows=0, rejected_rows=0, report=[],
                       created_by_id=actor.id if actor is not None else None)
    session.add(entry)
    session.flush()
    stash_file(r, entry.id, text)
    audit.record(session, "list_import.uploaded", actor_id=entry.created_by_id, entity=entry, filename=entry.filename,
                 rows=entry.total_rows, campaign_id=campaign_id)
    session.commit()
    return entry


def get_import(session: Session, import_id: int) -> ListImport:
    entry = session.get(ListImport, import_id)
    if entry is None:
        raise NotFound(t("Import %(import_id)s not found", import_id=import_id), field="import_id")
    return entry


def configure(session: Session, entry: ListImport, *, mapping: dict[str, str] | None = None,
              all_or_nothing: bool | None = None) -> ListImport:
    """Change the mapping or the mode of an import that has not started; committed."""
    if entry.status != "pending":
        raise Conflict(t("This import has already started"), field="import_id")
    if mapping is not None:
        entry.mapping = dict(mapping)
    if all_or_nothing is not None:
        entry.all_or_nothing = all_or_nothing
    session.commit()
    return entry


def dry_run(session: Session, r: redis.Redis, entry: ListImport, target: Target, *, region: str) -> Validation:
    """Validate the stashed file with the import's mapping; the report is saved, nothing else is written."""
    text = file_text(r, entry)
    result = validate(session, text, entry.mapping, target, region=region)
    entry.report = result.report
    entry.rejected_rows = result.rejected
    session.commit()
    return result


def file_text(r: redis.Redis, entry: ListImport) -> str:
    """The import's uploaded text; Conflict once it has expired."""
    text = stashed_file(r, entry.id)
    if text is None:
        raise Conflict(t("The uploaded file has expired; upload it again"), field="file")
    return text


def queue_import(session: Session, entry: ListImport) -> ListImport:
    """Hand the import to the job (committed; enqueued once the transaction commits)."""
    if entry.status != "pending":
        raise Conflict(t("This import has already started"), field="import_id")
    entry.status = "running"
    entry.processed_rows = 0
    jobs.defer(session, "workers.imports.run_list_import", entry.id, key=f"list-import-{entry.id}",
               queue="default", timeout=30 * 60)
    session.commit()
    return entry


def run_import(session: Session, r: redis.Redis, import_id: int, target: Target, *, region: str,
               now: datetime | None = None) -> ListImport:
    """The job's body: validate with progress, then write the good rows (or none) in one transaction.

    Idempotent: a finished import is left as it is, and rows this import already wrote are not written again.
    `processed_rows` is committed as rows are checked (nothing else is pending in the session meanwhile), for a
    progress bar to poll.
    """
    now = now or utcnow()
    entry = get_import(session, import_id)
    if entry.status in ("done", "failed"):
        return entry
    entry.status = "running"
    session.commit()
    try:
        text = file_text(r, entry)
    except DomainError as exc:
        return _fail(session, entry, exc.message, now)

    def progress(count: int) -> None:
        row = session.get(ListImport, import_id)
        if row is not None:
            row.processed_rows = count
            session.commit()

    try:
        result = validate(session, text, entry.mapping, target, region=region, import_id=entry.id,
                          progress=progress)
    except DomainError as exc:
        return _fail(session, entry, exc.message, now)
    session.refresh(entry)
    entry.report = result.report
    entry.rejected_rows = result.rejected
    entry.processed_rows = len(result.rows)
    if entry.all_or_nothing and result.rejected:
        entry.imported_rows = 0
    else:
        already = target.imported_by(session, entry.id)
        fresh = [row for row in result.writable if row.phone not in already]
        target.write(session, fresh, entry.id, now)
        entry.imported_rows = len(fresh) + len({row.phone for row in result.writable} & already)
    entry.status = "done"
    entry.finished_at = now
    audit.record(session, "list_import.done", actor_id=entry.created_by_id, entity=entry,
                 imported=entry.imported_rows, rejected=entry.rejected_rows, all_or_nothing=entry.all_or_nothing)
    session.commit()
    r.delete(file_key(entry.id))
    return entry


def _fail(session: Session, entry: ListImport, message: str, now: datetime) -> ListImport:
    session.rollback()
    entry.status = "failed"
    entry.finished_at = now
    entry.report = [{"line": 0, "status": "rejected", "code": "file", "params": {}, "message": str(message),
                     "msgid": getattr(message, "msgid", str(message)),
                     "msgparams": getattr(message, "params", {})}]
    session.commit()
    return entry


def entry_message(entry: dict[str, Any]) -> Message:
    """Any report entry's text, translatable (a whole-file failure keeps its own message)."""
    if entry.get("code") == "file":
        return t(entry.get("msgid") or entry.get("message", ""), **(entry.get("msgparams") or {}))
    return reason_message(entry)


def summarise(rows: Iterable[Row]) -> dict[str, int]:
    """How many rows per status (for pages and tests)."""
    counts: dict[str, int] = {}
    for row in rows:
        counts[row.status] = counts.get(row.status, 0) + 1
    return counts
