"""What every CSV import page shares (a campaign's list, the contacts): the upload and mapping forms, reading the
mapping back from the form, the report's rows in the reader's language, and the progress the bar polls.

The pages differ only in where the rows go (services.csv_import targets) and in their URLs; the templates share
`_csv_import.html`.
"""

from __future__ import annotations

from typing import Any

from flask import request
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from werkzeug.datastructures import FileStorage

from callcenter.extensions import db
from callcenter.i18n import translate
from callcenter.models import ListImport
from callcenter.redis_conn import get_redis
from callcenter.services import csv_import
from callcenter.services.errors import DomainError

MAX_UPLOAD_BYTES = 5 * 1024 * 1024
# Every field a column may map onto, with its label; a page offers those of its target.
FIELD_LABELS = {"phone": _l("Phone number"), "phone2": _l("Second phone number"), "name": _l("Full name"),
                "first_name": _l("First name"), "last_name": _l("Last name"), "email": _l("Email"),
                "account": _l("Account"), "language": _l("Language"), "priority": _l("Priority"),
                "consent": _l("Consent")}


class PostForm(FlaskForm):
    """Only the CSRF token: the fields are read from the request by name (their number depends on the data)."""


class UploadForm(FlaskForm):
    file = FileField(_l("CSV file (UTF-8, the first line names the columns)"),
                     validators=[FileRequired(_l("Choose a file to upload"))])


def field_choices(fields: tuple[str, ...]) -> list[tuple[str, Any]]:
    """The mapping select's options for a target's fields: ignore, each field, a custom field."""
    return [("", _l("(ignore this column)")), *((name, FIELD_LABELS[name]) for name in fields),
            ("custom", _l("Custom field"))]


def uploaded_text(storage: FileStorage) -> str:
    """The uploaded file as text; DomainError when it is too large or not UTF-8."""
    raw = storage.read(MAX_UPLOAD_BYTES + 1)
    if len(raw) > MAX_UPLOAD_BYTES:
        raise DomainError(_("The file is larger than %(size)s KB", size=MAX_UPLOAD_BYTES // 1024), field="file")
    return csv_import.decode(raw)


def mapping_from_form() -> dict[str, str]:
    """The mapping the form posted: column -> field, `custom` columns as custom:<name>."""
    mapping: dict[str, str] = {}
    for column in request.form.getlist("column"):
        target = request.form.get(f"field_{column}", "")
        if target == "custom":
            target = csv_import.CUSTOM_PREFIX + request.form.get(f"custom_{column}", column).strip()
        mapping[column] = target
    return mapping


def save_and_run(entry: ListImport, target: csv_import.Target, *, region: str) -> csv_import.Validation | None:
    """The mapping form posted: save the mapping and mode, then check the rows (the dry run's result) or start the
    import (None). DomainError names what is wrong; the caller rolls back and shows it."""
    mapping = mapping_from_form()
    r = get_redis()
    header, _rows = csv_import.read_rows(csv_import.file_text(r, entry))
    csv_import.check_mapping(header, mapping, target.fields)
    csv_import.configure(db.session, entry, mapping=mapping,
                         all_or_nothing=request.form.get("all_or_nothing") == "y")
    if request.form.get("action") == "import":
        csv_import.queue_import(db.session, entry)
        return None
    return csv_import.dry_run(db.session, r, entry, target, region=region)


def mapping_rows(header: list[str], mapping: dict[str, str]) -> list[dict[str, str]]:
    rows = []
    for name in header:
        if not name:
            continue
        target = mapping.get(name, "")
        is_custom = target.startswith(csv_import.CUSTOM_PREFIX)
        rows.append({"column": name, "field": "custom" if is_custom else target,
                     "custom": target[len(csv_import.CUSTOM_PREFIX):] if is_custom else name})
    return rows


def page_context(entry: ListImport, fields: tuple[str, ...]) -> dict[str, Any]:
    """What `_csv_import.html` needs for one import: the mapping rows (while pending), the report, the forms."""
    text = csv_import.stashed_file(get_redis(), entry.id) if entry.status == "pending" else None
    header = csv_import.read_rows(text)[0] if text else []
    report = [{**item, "text": translate(csv_import.entry_message(item))} for item in entry.report or []]
    return {"entry": entry, "form": PostForm(), "field_choices": field_choices(fields),
            "mapping_rows": mapping_rows(header, entry.mapping or {}), "report": report,
            "expired": entry.status == "pending" and text is None}


def progress(entry: ListImport) -> dict[str, Any]:
    """What the progress bar polls."""
    return {"status": entry.status, "processed_rows": entry.processed_rows, "total_rows": entry.total_rows,
            "imported_rows": entry.imported_rows, "rejected_rows": entry.rejected_rows}
