"""Contact data quality for admins and supervisors, under /contacts/quality: the completeness report (counts, a
paged list and CSV per check), duplicate contacts and their merge, and the contact import.

The import is the campaigns' CSV pipeline with the contacts as its target (services.contact_import), on the same
forms and report (web/csv_upload.py); the merge is services.contact_merge. Supervisors work within their scope.
"""

from __future__ import annotations

import csv
import io
from typing import Any

from flask import (
    Blueprint,
    Flask,
    Response,
    abort,
    current_app,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from sqlalchemy import select

from callcenter.extensions import db
from callcenter.i18n import translate
from callcenter.models import ListImport
from callcenter.redis_conn import get_redis
from callcenter.services import contact_import, contact_merge, csv_import, data_quality
from callcenter.services.errors import DomainError
from callcenter.services.phones import display, try_e164
from callcenter.web import csv_upload
from callcenter.web.campaigns import require_manager
from callcenter.web.csv_upload import PostForm, UploadForm
from callcenter.web.filters import page_number

bp = Blueprint("data_quality", __name__, template_folder="templates", url_prefix="/contacts/quality")

PER_PAGE = 100
CSV_LIMIT = 10_000
CHECK_TITLES = {"no_number": _l("Contacts without a phone number"), "no_account": _l("Contacts without an account"),
                "bad_number": _l("Contacts with a number that does not parse")}
REASON_TITLES = {"phone": _l("Same phone number"), "email": _l("Same email"), "name": _l("Same name")}


# Admins and supervisors, as on the campaign pages: anonymous users go to the login page, agents get 403.
bp.before_request(require_manager)


def _phones(contact: Any) -> str:
    return ", ".join(_readable(p.e164) for p in contact.phones)


def _readable(e164: str) -> str:
    """International format; a stored number that does not parse is shown as stored."""
    return display(e164) if try_e164(e164) == e164 else e164


# --- completeness -----------------------------------------------------------------------------------------------


@bp.get("")
def index():
    """The counts of each check, with links to the lists, the duplicates and the import."""
    return render_template("data_quality/index.html", counts=data_quality.counts(db.session, current_user),
                           titles=CHECK_TITLES)


def _check_or_404(check: str) -> str:
    if check not in data_quality.CHECKS:
        abort(404)
    return check


@bp.get("/completeness/<check>")
def completeness(check: str):
    """One check's contacts, oldest first, 100 a page."""
    number = page_number()
    found, total = data_quality.findings(db.session, current_user, _check_or_404(check), page=number,
                                         per_page=PER_PAGE)
    rows = [{"contact": f.contact, "phones": _phones(f.contact), "bad": ", ".join(f.bad_numbers)} for f in found]
    return render_template("data_quality/completeness.html", check=check, title=CHECK_TITLES[check], rows=rows,
                           total=total, page=number, per_page=PER_PAGE)


@bp.get("/completeness/<check>.csv")
def completeness_csv(check: str):
    """One check's contacts as CSV (at most 10,000)."""
    found, _total = data_quality.findings(db.session, current_user, _check_or_404(check), per_page=CSV_LIMIT)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["contact_id", "name", "email", "account", "phones", "bad_numbers"])
    for f in found:
        c = f.contact
        writer.writerow([c.id, c.display_name, c.email or "", c.account.name if c.account else "",
                         " ".join(p.e164 for p in c.phones), " ".join(f.bad_numbers)])
    return Response(out.getvalue(), mimetype="text/csv",
                    headers={"Content-Disposition": f"attachment; filename=contacts-{check}.csv"})


# --- duplicates and merge ---------------------------------------------------------------------------------------


@bp.get("/duplicates")
def duplicates():
    """Groups of contacts that look like one person; each group's form merges the chosen ones into one."""
    reason = request.args.get("reason") or None
    if reason is not None and reason not in contact_merge.REASONS:
        abort(404)
    groups = contact_merge.find_duplicates(db.session, current_user, reason)
    return render_template("data_quality/duplicates.html", groups=groups, reason=reason, titles=REASON_TITLES,
                           phones=_phones, form=PostForm())


@bp.post("/merge")
def merge():
    """Merge every ticked contact into the chosen survivor."""
    if not PostForm().validate_on_submit():
        abort(400)
    survivor = request.form.get("survivor_id", type=int)
    others = [i for i in request.form.getlist("other_id", type=int) if i != survivor]
    if survivor is None or not others:
        flash(_("Choose the contact to keep and at least one other to merge into it."), "error")
        return redirect(url_for("data_quality.duplicates"))
    try:
        for other in others:
            contact_merge.merge(db.session, current_user, survivor, other, ip_address=request.remote_addr)
    except DomainError as exc:
        db.session.rollback()
        flash(translate(exc.message), "error")
        return redirect(url_for("data_quality.duplicates"))
    flash(_("Merged %(count)s contacts into contact %(id)s.", count=len(others), id=survivor), "info")
    return redirect(url_for("data_quality.duplicates"))


# --- contact import ---------------------------------------------------------------------------------------------


def _imports() -> list[ListImport]:
    return list(db.session.scalars(select(ListImport).where(ListImport.campaign_id.is_(None))
                                   .order_by(ListImport.id.desc()).limit(20)))


def _import_or_404(import_id: int) -> ListImport:
    entry = db.session.get(ListImport, import_id)
    if entry is None or entry.campaign_id is not None:
        abort(404)
    return entry


@bp.get("/import")
def import_start():
    return render_template("data_quality/import_upload.html", upload=UploadForm(), imports=_imports())


@bp.post("/import")
def import_upload():
    upload = UploadForm()
    if not upload.validate_on_submit():
        return render_template("data_quality/import_upload.html", upload=upload, imports=_imports()), 400
    storage = upload.file.data
    try:
        entry = contact_import.upload(db.session, get_redis(), current_user,
                                      filename=storage.filename or "contacts.csv",
                                      text=csv_upload.uploaded_text(storage))
    except DomainError as exc:
        db.session.rollback()
        upload.file.errors = [translate(exc.message)]
        return render_template("data_quality/import_upload.html", upload=upload, imports=_imports()), 422
    return redirect(url_for("data_quality.import_detail", import_id=entry.id))


def _render_import(entry: ListImport, *, result: csv_import.Validation | None = None, error: str | None = None,
                   status: int = 200):
    return render_template("data_quality/import.html", result=result, error=error,
                           **csv_upload.page_context(entry, csv_import.CONTACT_FIELDS)), status


@bp.get("/import/<int:import_id>")
def import_detail(import_id: int):
    return _render_import(_import_or_404(import_id))


@bp.post("/import/<int:import_id>")
def import_run(import_id: int):
    """Save the mapping and mode, then check the rows (dry run) or start the import."""
    entry = _import_or_404(import_id)
    if not PostForm().validate_on_submit():
        abort(400)
    try:
        result = csv_upload.save_and_run(entry, contact_import.target_of(entry),
                                         region=current_app.config["DEFAULT_REGION"])
    except DomainError as exc:
        db.session.rollback()
        return _render_import(entry, error=translate(exc.message), status=422)
    if result is None:
        return redirect(url_for("data_quality.import_detail", import_id=entry.id))
    return _render_import(entry, result=result)


@bp.get("/import/<int:import_id>/progress")
def import_progress(import_id: int):
    """What the progress bar polls."""
    return jsonify(csv_upload.progress(_import_or_404(import_id)))


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
