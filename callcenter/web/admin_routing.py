"""Admin pages for routing set-up: queues, skills (and who holds them), dispositions, away reasons, phone numbers.

Admins only (403 for everyone else), but for the skill pages, where a supervisor gives and takes the skills of
their own team's agents. Views parse the form, call one `services.admin_routing` function and render;
a refused change re-renders the form with the reason and a 4xx status.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Flask, abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from callcenter.extensions import db
from callcenter.i18n import translate
from callcenter.models import Role
from callcenter.redis_conn import get_redis
from callcenter.services import admin_routing, business_hours, ivr_flows
from callcenter.services.errors import DomainError
from callcenter.services.priority import RULES
from callcenter.web import ivr_admin

bp = Blueprint("admin_routing", __name__, url_prefix="/admin", template_folder="templates")


# What a supervisor may open here: who holds which skill in their team, and giving or taking one.
SUPERVISOR_ENDPOINTS = frozenset({"admin_routing.skills", "admin_routing.skill", "admin_routing.set_holder",
                                  "admin_routing.remove_holder"})


@bp.before_request
def _admins_or_team_skills():
    """Admins only (log in first, 403 for everyone else); supervisors reach their team's skill pages."""
    if (current_user.is_authenticated and current_user.role == Role.SUPERVISOR.value
            and request.endpoint in SUPERVISOR_ENDPOINTS):
        return None
    return ivr_admin.require_admin()


def _failed(exc: DomainError) -> tuple[str, str | None, int]:
    """(message in the reader's language, field, status) of a refused change."""
    db.session.rollback()
    return translate(exc.message), exc.field, exc.status


@bp.get("/")
def index():
    return render_template("admin/index.html")


# --- Queues --------------------------------------------------------------------------------------------------------


@bp.get("/queues")
def queues():
    return render_template("admin/queues.html", queues=admin_routing.list_queues(db.session))


def _queue_form(form: Any) -> dict[str, Any]:
    """The service's values from the queue form's fields."""
    values: dict[str, Any] = {name: form.get(name, "") for name in (
        "name", "description", "script", "time_zone", "base_priority", "service_level_target", "recording_policy",
        *admin_routing.QUEUE_TIMERS)}
    values.update({name: form.get(name) for name in admin_routing.QUEUE_FLAGS})
    values["business_hours"] = {day: form.get(f"hours_{day}", "") for day in business_hours.DAYS}
    values["priority_rules"] = {rule: form.get(f"priority_{rule}", "0") for rule in RULES}
    values["skills"] = {int(skill_id): form.get(f"skill_{skill_id}_level", "1")
                        for skill_id in form.getlist("skill") if skill_id.isdigit()}
    return values


def _queue_page(queue: Any, form: dict[str, Any], error: tuple[str, str | None, int] | None = None):
    skills = [skill for skill, _holders in admin_routing.list_skills(db.session)]
    message, field, status = error or (None, None, 200)
    flows = admin_routing.flows_routing_to(db.session, queue.name) if queue is not None else []
    return render_template("admin/queue_edit.html", queue=queue, form=form, skills=skills, days=business_hours.DAYS,
                           rules=RULES, timers=admin_routing.QUEUE_TIMERS, flows=flows, error=message,
                           error_field=field), status


def _form_of(queue: Any) -> dict[str, Any]:
    """The form's values for an existing queue (or a new one's defaults)."""
    form: dict[str, Any] = {name: getattr(queue, name) for name in (
        "name", "description", "script", "time_zone", "base_priority", "service_level_target", "recording_policy",
        *admin_routing.QUEUE_TIMERS)}
    form.update({name: getattr(queue, name) for name in admin_routing.QUEUE_FLAGS})
    form.update({f"hours_{day}": text for day, text in admin_routing.hours_as_text(queue.business_hours).items()})
    form.update({f"priority_{rule}": (queue.priority_rules or {}).get(rule, 0) for rule in RULES})
    form["skills"] = {s.skill_id: s.min_level for s in queue.skills}
    return form


def _posted_form() -> dict[str, Any]:
    form: dict[str, Any] = request.form.to_dict()
    form.update({name: bool(request.form.get(name)) for name in admin_routing.QUEUE_FLAGS})
    form["skills"] = {int(i): request.form.get(f"skill_{i}_level", "1") for i in request.form.getlist("skill")
                      if i.isdigit()}
    return form


@bp.get("/queues/new")
def new_queue():
    return _queue_page(None, _form_of(admin_routing.blank_queue()))


@bp.post("/queues/new")
def create_queue():
    try:
        queue = admin_routing.create_queue(db.session, current_user, _queue_form(request.form),
                                           ip_address=request.remote_addr)
    except DomainError as exc:
        return _queue_page(None, _posted_form(), _failed(exc))
    flash(_("Queue %(name)s created.", name=queue.name), "info")
    return redirect(url_for("admin_routing.edit_queue", queue_id=queue.id))


def _queue_or_404(queue_id: int):
    try:
        return admin_routing.get_queue(db.session, queue_id)
    except DomainError:
        abort(404)


@bp.get("/queues/<int:queue_id>")
def edit_queue(queue_id: int):
    queue = _queue_or_404(queue_id)
    return _queue_page(queue, _form_of(queue))


@bp.post("/queues/<int:queue_id>")
def update_queue(queue_id: int):
    queue = _queue_or_404(queue_id)
    try:
        admin_routing.update_queue(db.session, current_user, queue.id, _queue_form(request.form),
                                   ip_address=request.remote_addr)
    except DomainError as exc:
        return _queue_page(_queue_or_404(queue_id), _posted_form(), _failed(exc))
    flash(_("Queue %(name)s saved.", name=queue.name), "info")
    return redirect(url_for("admin_routing.edit_queue", queue_id=queue.id))


@bp.post("/queues/<int:queue_id>/holidays")
def add_holiday(queue_id: int):
    queue = _queue_or_404(queue_id)
    try:
        admin_routing.add_holiday(db.session, current_user, queue.id, request.form.get("day", ""),
                                  request.form.get("holiday_name", ""), ip_address=request.remote_addr)
    except DomainError as exc:
        return _queue_page(_queue_or_404(queue_id), _form_of(_queue_or_404(queue_id)), _failed(exc))
    flash(_("Holiday added."), "info")
    return redirect(url_for("admin_routing.edit_queue", queue_id=queue.id))


@bp.post("/queues/<int:queue_id>/holidays/<int:holiday_id>/delete")
def remove_holiday(queue_id: int, holiday_id: int):
    queue = _queue_or_404(queue_id)
    try:
        admin_routing.remove_holiday(db.session, current_user, queue.id, holiday_id, ip_address=request.remote_addr)
    except DomainError:
        abort(404)
    flash(_("Holiday removed."), "info")
    return redirect(url_for("admin_routing.edit_queue", queue_id=queue.id))


# --- Skills --------------------------------------------------------------------------------------------------------


def _skills_page(error: tuple[str, str | None, int] | None = None, name: str = ""):
    message, field, status = error or (None, None, 200)
    return render_template("admin/skills.html", skills=admin_routing.list_skills(db.session), error=message,
                           error_field=field, name=name), status


@bp.get("/skills")
def skills():
    return _skills_page()


@bp.post("/skills")
def create_skill():
    try:
        skill = admin_routing.create_skill(db.session, current_user, request.form.to_dict(),
                                           ip_address=request.remote_addr)
    except DomainError as exc:
        return _skills_page(_failed(exc), request.form.get("name", ""))
    flash(_("Skill %(name)s created.", name=skill.name), "info")
    return redirect(url_for("admin_routing.skill", skill_id=skill.id))


def _skill_or_404(skill_id: int):
    try:
        return admin_routing.get_skill(db.session, skill_id)
    except DomainError:
        abort(404)


def _skill_page(skill: Any, error: tuple[str, str | None, int] | None = None):
    message, field, status = error or (None, None, 200)
    return render_template("admin/skill.html", skill=skill,
                           holders=admin_routing.skill_holders(db.session, skill.id, current_user),
                           candidates=admin_routing.skill_candidates(db.session, skill.id, current_user),
                           error=message, error_field=field), status


@bp.get("/skills/<int:skill_id>")
def skill(skill_id: int):
    return _skill_page(_skill_or_404(skill_id))


@bp.post("/skills/<int:skill_id>")
def rename_skill(skill_id: int):
    skill = _skill_or_404(skill_id)
    try:
        admin_routing.rename_skill(db.session, current_user, skill.id, request.form.to_dict(),
                                   ip_address=request.remote_addr)
    except DomainError as exc:
        return _skill_page(_skill_or_404(skill_id), _failed(exc))
    flash(_("Skill renamed to %(name)s.", name=skill.name), "info")
    return redirect(url_for("admin_routing.skill", skill_id=skill.id))


@bp.post("/skills/<int:skill_id>/holders")
def set_holder(skill_id: int):
    skill = _skill_or_404(skill_id)
    try:
        row = admin_routing.set_agent_skill(db.session, current_user, skill.id, request.form.get("user_id"),
                                            request.form.get("level", ""), r=get_redis(),
                                            ip_address=request.remote_addr)
    except DomainError as exc:
        return _skill_page(_skill_or_404(skill_id), _failed(exc))
    flash(_("%(person)s holds %(skill)s at level %(level)s.", person=row.user.full_name, skill=skill.name,
            level=row.level), "info")
    return redirect(url_for("admin_routing.skill", skill_id=skill.id))


@bp.post("/skills/<int:skill_id>/holders/<int:user_id>/delete")
def remove_holder(skill_id: int, user_id: int):
    skill = _skill_or_404(skill_id)
    try:
        admin_routing.remove_agent_skill(db.session, current_user, skill.id, user_id, r=get_redis(),
                                         ip_address=request.remote_addr)
    except DomainError as exc:
        abort(exc.status)
    flash(_("Skill taken away."), "info")
    return redirect(url_for("admin_routing.skill", skill_id=skill.id))


# --- Dispositions and away reasons ---------------------------------------------------------------------------------

# kind -> (title, list, create, update)
_LISTS = {
    "dispositions": (admin_routing.list_dispositions, admin_routing.create_disposition,
                     admin_routing.update_disposition),
    "away_reasons": (admin_routing.list_away_reasons, admin_routing.create_away_reason,
                     admin_routing.update_away_reason),
}


def _coded_page(kind: str, error: tuple[str, str | None, int] | None = None, form: dict[str, Any] | None = None):
    message, field, status = error or (None, None, 200)
    built_in = admin_routing.BUILT_IN_AWAY_REASONS if kind == "away_reasons" else ()
    return render_template("admin/coded_list.html", kind=kind, rows=_LISTS[kind][0](db.session),
                           built_in=[(code, translate(label)) for code, label in built_in], form=form or {},
                           error=message, error_field=field), status


@bp.get("/dispositions")
def dispositions():
    return _coded_page("dispositions")


@bp.get("/away-reasons")
def away_reasons():
    return _coded_page("away_reasons")


def _create_coded(kind: str):
    try:
        _LISTS[kind][1](db.session, current_user, request.form.to_dict(), ip_address=request.remote_addr)
    except DomainError as exc:
        return _coded_page(kind, _failed(exc), request.form.to_dict())
    flash(_("Added %(code)s.", code=request.form.get("code", "")), "info")
    return redirect(url_for(f"admin_routing.{kind}"))


def _update_coded(kind: str, row_id: int):
    try:
        row = _LISTS[kind][2](db.session, current_user, row_id, request.form.to_dict(), ip_address=request.remote_addr)
    except DomainError as exc:
        return _coded_page(kind, _failed(exc))
    flash(_("Saved %(code)s.", code=row.code), "info")
    return redirect(url_for(f"admin_routing.{kind}"))


@bp.post("/dispositions")
def create_disposition():
    return _create_coded("dispositions")


@bp.post("/dispositions/<int:row_id>")
def update_disposition(row_id: int):
    return _update_coded("dispositions", row_id)


@bp.post("/away-reasons")
def create_away_reason():
    return _create_coded("away_reasons")


@bp.post("/away-reasons/<int:row_id>")
def update_away_reason(row_id: int):
    return _update_coded("away_reasons", row_id)


# --- Phone numbers and caller IDs ----------------------------------------------------------------------------------


def _configured_numbers() -> list[str]:
    config = current_app.config
    return list(dict.fromkeys([*(config.get("CALLER_IDS") or []), *(config.get("SIM_PHONE_NUMBERS") or [])]))


def _numbers_page(error: tuple[str, str | None, int] | None = None, form: dict[str, Any] | None = None):
    message, field, status = error or (None, None, 200)
    configured = _configured_numbers()
    return render_template("admin/numbers.html",
                           numbers=admin_routing.list_numbers(db.session, configured),
                           caller_ids=admin_routing.caller_ids(db.session, current_app.config.get("CALLER_IDS") or []),
                           flows=ivr_flows.list_flows(db.session), form=form or {}, error=message,
                           error_field=field), status


@bp.get("/numbers")
def numbers():
    return _numbers_page()


@bp.post("/numbers")
def create_number():
    try:
        row = admin_routing.create_number(db.session, current_user, request.form.to_dict(),
                                          ip_address=request.remote_addr)
    except DomainError as exc:
        return _numbers_page(_failed(exc), request.form.to_dict())
    flash(_("Added %(number)s.", number=row.number), "info")
    return redirect(url_for("admin_routing.numbers"))


@bp.post("/numbers/<int:number_id>")
def update_number(number_id: int):
    try:
        row = admin_routing.update_number(db.session, current_user, number_id, request.form.to_dict(),
                                          ip_address=request.remote_addr)
    except DomainError as exc:
        return _numbers_page(_failed(exc))
    flash(_("Saved %(number)s.", number=row.number), "info")
    return redirect(url_for("admin_routing.numbers"))


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
