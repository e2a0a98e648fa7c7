"""Admin pages for IVR flows: list, upload a JSON/YAML file, edit in a textarea, switch on/off, download.

Admins only. Every save goes through `services.ivr_flows.save_flow`, so the page shows the same problems (with
their paths, grouped per node) as the CLI import.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import replace
from typing import Any

from flask import Blueprint, Flask, Response, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms import SelectField, TextAreaField
from wtforms.validators import DataRequired, Length

from callcenter.extensions import db, login_manager
from callcenter.i18n import translate
from callcenter.models import Role
from callcenter.services import ivr_flows
from callcenter.services.errors import DomainError
from callcenter.services.ivr_flows import FlowProblem, FlowValidationFailed
from callcenter.services.messages import t

bp = Blueprint("ivr_admin", __name__, url_prefix="/admin/ivr", template_folder="templates")

MAX_FLOW_BYTES = 256 * 1024
FORMATS = ["yaml", "json"]


class UploadForm(FlaskForm):
    file = FileField(_l("Flow file (.yaml, .yml or .json)"), validators=[FileRequired(_l("Choose a file to upload"))])


class EditForm(FlaskForm):
    format = SelectField(_l("Format"), choices=FORMATS, default="yaml")
    definition = TextAreaField(_l("Definition"), validators=[DataRequired(_l("The definition is empty")),
                                                         Length(max=MAX_FLOW_BYTES,
                                                                message=_l("At most %(max)d characters."))])


class ToggleForm(FlaskForm):
    """Only the CSRF token: switching a flow on or off."""


@bp.before_request
def require_admin():
    """Admins only: anonymous users go to the login page, everyone else gets 403."""
    if not current_user.is_authenticated:
        return login_manager.unauthorized()
    if current_user.role != Role.ADMIN.value:
        abort(403)
    return None


def _grouped(problems: list[FlowProblem]) -> dict[str, list[FlowProblem]]:
    """Problems per section: "" for the flow's own settings, else the node id, in the order found."""
    groups: dict[str, list[FlowProblem]] = defaultdict(list)
    for problem in problems:
        groups[problem.node or ""].append(replace(problem, message=translate(problem.message)))
    return dict(groups)


def _problems_of(exc: DomainError) -> list[FlowProblem]:
    if isinstance(exc, FlowValidationFailed):
        return exc.problems
    return [FlowProblem(exc.field or "", exc.message)]


def _render_index(upload: UploadForm, problems: list[FlowProblem] | None = None, filename: str | None = None,
                  status: int = 200):
    flows = ivr_flows.list_flows(db.session)
    return render_template("ivr_admin/index.html", flows=flows, upload=upload, toggle=ToggleForm(),
                           problems=_grouped(problems or []), filename=filename), status


@bp.get("/")
def index():
    return _render_index(UploadForm())


@bp.post("/upload")
def upload():
    form = UploadForm()
    if not form.validate_on_submit():
        return _render_index(form, status=400)
    storage = form.file.data
    filename = storage.filename or "upload"
    raw = storage.read(MAX_FLOW_BYTES + 1)
    try:
        if len(raw) > MAX_FLOW_BYTES:
            raise DomainError(t("The file is larger than %(size)s KB", size=MAX_FLOW_BYTES // 1024), field="file")
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise DomainError(t("The file is not UTF-8 text"), field="file") from None
        definition = ivr_flows.parse_definition(text, filename)
        flow = ivr_flows.save_flow(db.session, current_user.id, definition, ip_address=request.remote_addr)
        db.session.commit()
    except DomainError as exc:
        db.session.rollback()
        return _render_index(form, _problems_of(exc), filename, status=exc.status if exc.status != 400 else 422)
    flash(_("Saved %(name)s (%(number)s), version %(version)s.", name=flow.name, number=flow.phone_number,
            version=flow.version), "info")
    return redirect(url_for("ivr_admin.edit", flow_id=flow.id))


def _render_edit(flow: Any, form: EditForm, problems: list[FlowProblem] | None = None, status: int = 200):
    return render_template("ivr_admin/edit.html", flow=flow, form=form, toggle=ToggleForm(),
                           problems=_grouped(problems or []), problem_count=len(problems or [])), status


@bp.get("/new")
def new():
    form = EditForm()
    form.definition.data = ivr_flows.DEFAULT_FLOW_FILE.read_text(encoding="utf-8")
    return _render_edit(None, form)


@bp.post("/new")
def create():
    return _save(None)


@bp.get("/<int:flow_id>")
def edit(flow_id: int):
    flow = _flow_or_404(flow_id)
    form = EditForm()
    fmt = request.args.get("format", "yaml")
    form.format.data = fmt if fmt in FORMATS else "yaml"
    form.definition.data = ivr_flows.dump_definition(flow.definition, form.format.data)
    return _render_edit(flow, form)


@bp.post("/<int:flow_id>")
def update(flow_id: int):
    return _save(_flow_or_404(flow_id))


def _save(flow: Any):
    form = EditForm()
    if not form.validate_on_submit():
        return _render_edit(flow, form, status=400)
    try:
        definition = ivr_flows.parse_definition(form.definition.data, form.format.data)
        saved = ivr_flows.save_flow(db.session, current_user.id, definition, flow_id=flow.id if flow else None,
                                    ip_address=request.remote_addr)
        db.session.commit()
    except DomainError as exc:
        db.session.rollback()
        return _render_edit(flow, form, _problems_of(exc), status=exc.status if exc.status != 400 else 422)
    flash(_("Saved %(name)s (%(number)s), version %(version)s.", name=saved.name, number=saved.phone_number,
            version=saved.version), "info")
    return redirect(url_for("ivr_admin.edit", flow_id=saved.id, format=form.format.data))


@bp.post("/<int:flow_id>/active")
def toggle(flow_id: int):
    flow = _flow_or_404(flow_id)
    if not ToggleForm().validate_on_submit():
        abort(400)
    ivr_flows.set_active(db.session, current_user.id, flow.id, not flow.active, ip_address=request.remote_addr)
    db.session.commit()
    if flow.active:
        flash(_("%(name)s (%(number)s) is now active.", name=flow.name, number=flow.phone_number), "info")
    else:
        flash(_("%(name)s (%(number)s) is now inactive.", name=flow.name, number=flow.phone_number), "info")
    return redirect(url_for("ivr_admin.index"))


@bp.get("/<int:flow_id>/export")
def export(flow_id: int):
    flow = _flow_or_404(flow_id)
    fmt = "json" if request.args.get("format") == "json" else "yaml"
    body = ivr_flows.dump_definition(flow.definition, fmt)
    filename = f"ivr-{flow.phone_number.lstrip('+')}.{fmt}"
    mimetype = "application/json" if fmt == "json" else "application/yaml"
    return Response(body, mimetype=mimetype, headers={"Content-Disposition": f'attachment; filename="{filename}"'})


def _flow_or_404(flow_id: int):
    try:
        return ivr_flows.get_flow(db.session, flow_id)
    except DomainError:
        abort(404)


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
