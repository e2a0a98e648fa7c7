"""Campaign pages for admins and supervisors: the list (start / pause / stop), the edit form (settings, agents or a
team, disposition rules) and the list import (upload, mapping, dry run, import with a progress bar, per-row report).

Every change goes through `services.campaigns` / `services.csv_import`, so the pages refuse exactly what the API
refuses, with the same messages.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Flask, abort, current_app, flash, jsonify, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select

from callcenter.extensions import db, login_manager
from callcenter.i18n import translate
from callcenter.models import Disposition, ListImport, Queue, Role, Team, User
from callcenter.redis_conn import get_redis
from callcenter.services import campaign_lists, campaigns, csv_import
from callcenter.services.campaigns import DispositionRule
from callcenter.services.errors import DomainError
from callcenter.telephony import links
from callcenter.web import csv_upload
from callcenter.web.csv_upload import PostForm, UploadForm

bp = Blueprint("campaigns", __name__, template_folder="templates", static_folder="static",
               static_url_path="/campaigns/static")

NUMBER_FIELDS = {"max_attempts": int, "retry_minutes": int, "abandon_window_days": int,
                 "max_abandon_rate": float, "dial_ratio": float}
TEXT_FIELDS = ("name", "mode", "caller_id", "script", "calling_hours_start", "calling_hours_end",
               "default_region", "voicemail_drop_text", "identification_text")


@bp.before_request
def require_manager():
    """Admins and supervisors: anonymous users go to the login page, agents get 403."""
    if not current_user.is_authenticated:
        return login_manager.unauthorized()
    if current_user.role not in (Role.ADMIN.value, Role.SUPERVISOR.value):
        abort(403)
    return None


def _campaign_or_404(campaign_id: int):
    try:
        return campaigns.get_campaign(db.session, campaign_id)
    except DomainError:
        abort(404)


@bp.get("/campaigns")
def index():
    items, _total = campaigns.list_campaigns(db.session, current_user, limit=500)
    return render_template("campaigns/index.html", items=items, form=PostForm(),
                           actions=campaigns.TRANSITIONS)


def change_status(campaign_id: int, action: str):
    """The start / pause / stop buttons (one URL each: /campaigns/<id>/start, ...)."""
    if not PostForm().validate_on_submit():
        abort(400)
    _campaign_or_404(campaign_id)
    try:
        campaign = campaigns.change_status(db.session, current_user, campaign_id, action)
    except DomainError as exc:
        db.session.rollback()
        flash(translate(exc.message), "error")
    else:
        flash(_("%(name)s is now %(status)s.", name=campaign.name, status=translate(campaign.status)), "info")
    return redirect(url_for("campaigns.index"))


def _status_view(action: str):
    def view(campaign_id: int):
        return change_status(campaign_id, action)

    view.__name__ = f"status_{action}"
    return view


for _action in campaigns.TRANSITIONS:
    bp.add_url_rule(f"/campaigns/<int:campaign_id>/{_action}", f"status_{_action}", _status_view(_action),
                    methods=["POST"])


# --- the edit form ---------------------------------------------------------------------------------------------


def _form_values(form: Any) -> tuple[dict[str, Any], list[int], list[DispositionRule], list[str]]:
    """What the posted form says, as the service takes it; numbers that do not parse are reported by name."""
    values: dict[str, Any] = {name: form.get(name, "") for name in TEXT_FIELDS}
    bad: list[str] = []
    for name, kind in NUMBER_FIELDS.items():
        raw = form.get(name, "").strip()
        try:
            values[name] = kind(raw)
        except ValueError:
            bad.append(name)
    for name in ("queue_id", "team_id"):
        raw = form.get(name, "")
        values[name] = int(raw) if raw.isdigit() else None
    values["requires_consent"] = form.get("requires_consent") == "y"
    agent_ids = [int(v) for v in form.getlist("agent_ids") if v.isdigit()]
    rules = []
    for code in form.getlist("rule_code"):
        outcome = form.get(f"rule_outcome_{code}", "")
        if not outcome:
            continue
        minutes = form.get(f"rule_minutes_{code}", "").strip()
        rules.append(DispositionRule(code, outcome, int(minutes) if minutes.isdigit() else None))
    return values, agent_ids, rules, bad


def _edit_context(campaign: Any, values: dict[str, Any] | None = None, agent_ids: list[int] | None = None,
                  rules: dict[str, DispositionRule] | None = None) -> dict[str, Any]:
    if values is None:
        values = {name: getattr(campaign, name) for name in campaigns.EDITABLE} if campaign else {
            "mode": "preview", "calling_hours_start": "09:00", "calling_hours_end": "20:00", "max_attempts": 3,
            "retry_minutes": 60, "default_region": current_app.config["DEFAULT_REGION"], "max_abandon_rate": 0.03,
            "abandon_window_days": 30, "dial_ratio": 1.0, "requires_consent": False,
            "caller_id": (links.caller_ids() or [None])[0]}
    if agent_ids is None:
        agent_ids = [a.user_id for a in campaign.agents] if campaign else []
    if rules is None:
        rules = {d.disposition.code: DispositionRule(d.disposition.code, d.outcome, d.retry_after_minutes)
                 for d in campaign.dispositions} if campaign else {}
    return {
        "campaign": campaign, "values": values, "agent_ids": set(agent_ids), "rules": rules, "form": PostForm(),
        "modes": campaigns.MODES, "outcomes": campaigns.OUTCOMES,
        "caller_ids": links.caller_ids(),
        "agents": db.session.scalars(select(User).where(User.active.is_(True)).order_by(User.full_name)).all(),
        "teams": db.session.scalars(select(Team).order_by(Team.name)).all(),
        "queues": db.session.scalars(select(Queue).order_by(Queue.name)).all(),
        "dispositions": db.session.scalars(select(Disposition).where(Disposition.active.is_(True))
                                           .order_by(Disposition.label)).all(),
    }


@bp.get("/campaigns/new")
def new():
    return render_template("campaigns/edit.html", **_edit_context(None))


@bp.get("/campaigns/<int:campaign_id>/edit")
def edit(campaign_id: int):
    return render_template("campaigns/edit.html", **_edit_context(_campaign_or_404(campaign_id)))


@bp.post("/campaigns/new")
def create():
    return _save(None)


@bp.post("/campaigns/<int:campaign_id>/edit")
def update(campaign_id: int):
    return _save(_campaign_or_404(campaign_id))


def _save(campaign: Any):
    if not PostForm().validate_on_submit():
        abort(400)
    values, agent_ids, rules, bad = _form_values(request.form)
    error: tuple[str, str] | None = None
    if bad:
        error = (bad[0], _("%(field)s must be a number", field=bad[0]))
    else:
        try:
            kwargs = {"allowed_caller_ids": links.caller_ids(), "agent_ids": agent_ids,
                      "dispositions": rules}
            if campaign is None:
                saved = campaigns.create_campaign(db.session, current_user, values, **kwargs)
            else:
                saved = campaigns.update_campaign(db.session, current_user, campaign.id, values, **kwargs)
        except DomainError as exc:
            db.session.rollback()
            error = (exc.field or "", translate(exc.message))
    if error is not None:
        context = _edit_context(campaign, values, agent_ids, {r.code: r for r in rules})
        return render_template("campaigns/edit.html", error=error, **context), 422
    flash(_("Saved %(name)s.", name=saved.name), "info")
    return redirect(url_for("campaigns.index"))


# --- list import -----------------------------------------------------------------------------------------------


def _imports_of(campaign_id: int) -> list[ListImport]:
    return list(db.session.scalars(select(ListImport).where(ListImport.campaign_id == campaign_id)
                                   .order_by(ListImport.id.desc()).limit(20)))


@bp.get("/campaigns/<int:campaign_id>/import")
def import_start(campaign_id: int):
    campaign = _campaign_or_404(campaign_id)
    return render_template("campaigns/import_upload.html", campaign=campaign, upload=UploadForm(),
                           imports=_imports_of(campaign_id))


@bp.post("/campaigns/<int:campaign_id>/import")
def import_upload(campaign_id: int):
    campaign = _campaign_or_404(campaign_id)
    upload = UploadForm()
    if not upload.validate_on_submit():
        return render_template("campaigns/import_upload.html", campaign=campaign, upload=upload,
                               imports=_imports_of(campaign_id)), 400
    storage = upload.file.data
    try:
        entry = csv_import.create_import(db.session, get_redis(), current_user, campaign_id=campaign.id,
                                         filename=storage.filename or "upload.csv",
                                         text=csv_upload.uploaded_text(storage))
    except DomainError as exc:
        db.session.rollback()
        upload.file.errors = [translate(exc.message)]
        return render_template("campaigns/import_upload.html", campaign=campaign, upload=upload,
                               imports=_imports_of(campaign_id)), 422
    return redirect(url_for("campaigns.import_detail", campaign_id=campaign.id, import_id=entry.id))


def _import_or_404(campaign_id: int, import_id: int) -> ListImport:
    entry = db.session.get(ListImport, import_id)
    if entry is None or entry.campaign_id != campaign_id:
        abort(404)
    return entry


def _render_import(campaign: Any, entry: ListImport, *, result: csv_import.Validation | None = None,
                   error: str | None = None, status: int = 200):
    return render_template(
        "campaigns/import.html", campaign=campaign, result=result, error=error,
        leads=campaigns.summary(db.session, campaign), **csv_upload.page_context(entry, csv_import.FIELDS),
    ), status


@bp.get("/campaigns/<int:campaign_id>/import/<int:import_id>")
def import_detail(campaign_id: int, import_id: int):
    campaign = _campaign_or_404(campaign_id)
    return _render_import(campaign, _import_or_404(campaign_id, import_id))


@bp.post("/campaigns/<int:campaign_id>/import/<int:import_id>")
def import_run(campaign_id: int, import_id: int):
    """Save the mapping and mode, then check the rows (dry run) or start the import."""
    campaign = _campaign_or_404(campaign_id)
    entry = _import_or_404(campaign_id, import_id)
    if not PostForm().validate_on_submit():
        abort(400)
    try:
        result = csv_upload.save_and_run(entry, campaign_lists.CampaignList(campaign.id),
                                         region=campaign.default_region)
    except DomainError as exc:
        db.session.rollback()
        return _render_import(campaign, entry, error=translate(exc.message), status=422)
    if result is None:
        return redirect(url_for("campaigns.import_detail", campaign_id=campaign.id, import_id=entry.id))
    return _render_import(campaign, entry, result=result)


@bp.get("/campaigns/<int:campaign_id>/import/<int:import_id>/progress")
def import_progress(campaign_id: int, import_id: int):
    """What the progress bar polls."""
    return jsonify(csv_upload.progress(_import_or_404(campaign_id, import_id)))


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
