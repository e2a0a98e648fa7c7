"""Administration of people, for admins: users (create, edit, skills, deactivate, reset password, sign out
everywhere), teams (name, queue, members) and API tokens (issue, revoke).

Every change goes through `services.users` / `services.teams`, so these pages refuse exactly what the API refuses,
with the same messages, and audit the same way. A generated password or a new token's secret is shown in the
answer to the form that made it, once: it is never put in a flash message (the session cookie is only signed).
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Flask, abort, flash, make_response, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm

from callcenter.extensions import db
from callcenter.i18n import language_name, translate
from callcenter.models import Role
from callcenter.redis_conn import get_redis
from callcenter.services import auth, locales, teams
from callcenter.services import users as user_service
from callcenter.services.errors import DomainError, NotFound, ValidationFailed
from callcenter.services.messages import t
from callcenter.web.auth import keep_own_session
from callcenter.web.filters import page_number
from callcenter.web.ivr_admin import require_admin

bp = Blueprint("admin_people", __name__, url_prefix="/admin/people", template_folder="templates")

PER_PAGE = 50
ROLES = [role.value for role in Role]
ROLE_LABELS = {Role.AGENT.value: _l("Agent"), Role.SUPERVISOR.value: _l("Supervisor"), Role.ADMIN.value: _l("Admin")}
DETAIL_FIELDS = ("full_name", "email", "role", "language", "time_zone")


class PostForm(FlaskForm):
    """Only the CSRF token (checked app-wide by CSRFProtect): the fields are read from the request by name."""


# Admins only: anonymous users go to the login page, everyone else gets 403 (the IVR admin pages' gate).
bp.before_request(require_admin)


def _no_store(body: str, status: int = 200):
    """An answer that shows a secret once: browsers and proxies must not keep it."""
    response = make_response(body, status)
    response.headers["Cache-Control"] = "no-store"
    return response


def _error(exc: DomainError) -> tuple[str | None, str]:
    db.session.rollback()
    return exc.field, translate(exc.message)


# --- users -----------------------------------------------------------------------------------------------------


def _team_choices() -> list[tuple[int, str]]:
    return [(row.team.id, row.team.name) for row in teams.list_teams(db.session, current_user)]


def _user_context(**extra: Any) -> dict[str, Any]:
    # Each language named in itself, as on the profile page.
    languages = [(code, language_name(code, code) or code) for code in locales.SUPPORTED_LANGUAGES]
    return {"roles": ROLES, "role_labels": ROLE_LABELS, "teams": _team_choices(), "languages": languages,
            "time_zones": locales.time_zones(), "form": PostForm(), **extra}


def _details_from_form() -> dict[str, Any]:
    """The user fields of the posted form as services.users takes them ("" means none)."""
    form = request.form
    values: dict[str, Any] = {name: form.get(name, "").strip() for name in DETAIL_FIELDS}
    values["email"] = values["email"] or None
    team_id = form.get("team_id", "")
    names = dict(_team_choices())
    if team_id and (not team_id.isdigit() or int(team_id) not in names):
        raise ValidationFailed(t("Team %(id)s not found", id=team_id[:20]), field="team")
    values["team"] = names[int(team_id)] if team_id else None
    return values


def _skills_from_form() -> dict[str, int]:
    """Skill name -> level from the `level:<name>` inputs (blank: not held) and the new-skill row."""
    form = request.form
    chosen = {key[len("level:"):]: value.strip() for key, value in form.items() if key.startswith("level:")}
    new_name = form.get("new_skill", "").strip()
    if new_name:
        chosen[new_name] = form.get("new_level", "").strip() or "5"
    skills = {}
    for name, level in chosen.items():
        if not level:
            continue
        if not level.isdigit():
            raise ValidationFailed(t("Skill level for %(name)r must be 1..10", name=name), field="skills")
        skills[name] = int(level)
    return skills


def _filters() -> tuple[dict[str, Any], dict[str, str]]:
    args = {name: (request.args.get(name) or "").strip()[:80] for name in ("q", "role", "team", "active")}
    wanted: dict[str, Any] = {"role": args["role"] if args["role"] in ROLES else None}
    if args["team"] == "none":
        wanted["no_team"] = True
    elif args["team"].isdigit():
        wanted["team_id"] = int(args["team"])
    wanted["active"] = {"yes": True, "no": False}.get(args["active"])
    return wanted, {k: v for k, v in args.items() if v}


@bp.get("/users")
def users():
    """Everyone, 50 a page, filtered by role, team and active, searched by username, name or email."""
    wanted, args = _filters()
    page = page_number()
    found, total = user_service.list_users(db.session, current_user, args.get("q", ""), limit=PER_PAGE,
                                           offset=(page - 1) * PER_PAGE, **wanted)
    return render_template("admin_people/users.html", users=found, total=total, page=page, per_page=PER_PAGE,
                           args=args, **_user_context())


@bp.route("/users/new", methods=["GET", "POST"])
def new_user():
    """Create a user; with no password typed, one is generated and shown once."""
    values: dict[str, Any] = {"role": Role.AGENT.value, "username": ""}
    if request.method == "GET":
        return render_template("admin_people/user_new.html", values=values, error=None, **_user_context())
    values = {**request.form.to_dict(), "team_id": request.form.get("team_id", "")}
    typed = request.form.get("password", "")
    password = typed or auth.generate_password()
    try:
        details = _details_from_form()
        user = user_service.create_user(db.session, current_user, {
            "username": request.form.get("username", ""), "password": password, "full_name": details["full_name"],
            "role": details["role"] or Role.AGENT.value, "email": details["email"], "team": details["team"],
            "language": details["language"] or None, "time_zone": details["time_zone"] or None})
    except DomainError as exc:
        values.pop("password", None)
        return render_template("admin_people/user_new.html", values=values, error=_error(exc),
                               **_user_context()), exc.status
    return _no_store(render_template("admin_people/secret.html", user=user, password=None if typed else password,
                                     token=None))


def _user_or_404(user_id: int):
    try:
        return user_service.get_user(db.session, current_user, user_id)
    except NotFound:
        abort(404)


def _edit_page(user: Any, error: tuple[str | None, str] | None = None, status: int = 200):
    return render_template("admin_people/user_edit.html", user=user, error=error,
                           skill_names=user_service.skill_names(db.session),
                           held={row.skill.name: row.level for row in user.skills}, **_user_context()), status


@bp.route("/users/<int:user_id>", methods=["GET", "POST"])
def edit_user(user_id: int):
    """A user's details and skills; new skills reach routing at once."""
    user = _user_or_404(user_id)
    if request.method == "GET":
        return _edit_page(user)
    try:
        values = {**_details_from_form(), "skills": _skills_from_form()}
        user_service.update_user(db.session, current_user, user_id, values, ip_address=request.remote_addr,
                                 r=get_redis())
    except DomainError as exc:
        return _edit_page(_user_or_404(user_id), _error(exc), exc.status)
    flash(_("%(username)s is saved.", username=user.username), "info")
    return redirect(url_for("admin_people.edit_user", user_id=user_id))


@bp.post("/users/<int:user_id>/active")
def set_active(user_id: int):
    """Deactivate (their sessions, consoles and tokens stop working; no further call is offered) or reactivate."""
    user = _user_or_404(user_id)
    active = request.form.get("active") == "yes"
    try:
        user_service.update_user(db.session, current_user, user_id, {"active": active},
                                 ip_address=request.remote_addr, r=get_redis())
    except DomainError as exc:
        return _edit_page(_user_or_404(user_id), _error(exc), exc.status)
    flash(_("%(username)s is active again.", username=user.username) if active
          else _("%(username)s is deactivated.", username=user.username), "info")
    return redirect(url_for("admin_people.edit_user", user_id=user_id))


@bp.post("/users/<int:user_id>/password")
def reset_password(user_id: int):
    """A new password, typed or generated (shown once); every session of the user ends."""
    user = _user_or_404(user_id)
    try:
        user, generated = user_service.reset_password(db.session, current_user, user_id,
                                                      request.form.get("password") or None,
                                                      ip_address=request.remote_addr, r=get_redis())
    except DomainError as exc:
        return _edit_page(_user_or_404(user_id), _error(exc), exc.status)
    if user.id == current_user.id:
        keep_own_session(user)
    return _no_store(render_template("admin_people/secret.html", user=user, password=generated, token=None,
                                     reset=True))


@bp.post("/users/<int:user_id>/sign-out")
def sign_out(user_id: int):
    """End every session and open console of the user (API tokens stay: revoke them on the tokens page)."""
    user = _user_or_404(user_id)
    try:
        user_service.sign_out_everywhere(db.session, current_user, user_id, ip_address=request.remote_addr)
    except DomainError as exc:
        return _edit_page(_user_or_404(user_id), _error(exc), exc.status)
    if user.id == current_user.id:
        return redirect(url_for("auth.login"))
    flash(_("Every session of %(username)s has ended.", username=user.username), "info")
    return redirect(url_for("admin_people.edit_user", user_id=user_id))


# --- teams -----------------------------------------------------------------------------------------------------


def _queue_id() -> int | None:
    raw = request.form.get("queue_id", "")
    if raw and not raw.isdigit():
        raise ValidationFailed(t("Queue %(id)s not found", id=raw[:20]), field="queue_id")
    return int(raw) if raw else None


def _teams_page(error: tuple[str | None, str] | None = None, values: dict[str, str] | None = None,
                status: int = 200):
    return render_template("admin_people/teams.html", rows=teams.list_teams(db.session, current_user),
                           queues=teams.queue_choices(db.session), error=error, values=values or {},
                           form=PostForm()), status


@bp.route("/teams", methods=["GET", "POST"])
def team_list():
    """Every team with its queue, head count and supervisors; and a form for a new one."""
    if request.method == "GET":
        return _teams_page()
    try:
        team = teams.create_team(db.session, current_user, request.form.get("name", ""), _queue_id(),
                                 ip_address=request.remote_addr)
    except DomainError as exc:
        return _teams_page(_error(exc), request.form.to_dict(), exc.status)
    flash(_("Team %(name)s is created.", name=team.name), "info")
    return redirect(url_for("admin_people.edit_team", team_id=team.id))


def _team_page(team: Any, error: tuple[str | None, str] | None = None, status: int = 200):
    everyone, _total = user_service.list_users(db.session, current_user, limit=2000)
    member_ids = {u.id for u in teams.members(db.session, team.id)}
    return render_template("admin_people/team_edit.html", team=team, everyone=everyone, member_ids=member_ids,
                           role_labels=ROLE_LABELS,
                           queues=teams.queue_choices(db.session), error=error, form=PostForm()), status


@bp.route("/teams/<int:team_id>", methods=["GET", "POST"])
def edit_team(team_id: int):
    """Rename a team, choose its queue and its members (its supervisors are members with that role)."""
    try:
        team = teams.get_team(db.session, current_user, team_id)
    except NotFound:
        abort(404)
    if request.method == "GET":
        return _team_page(team)
    try:
        members = [int(v) for v in request.form.getlist("member_ids") if v.isdigit()]
        teams.update_team(db.session, current_user, team_id, name=request.form.get("name", ""),
                          queue_id=_queue_id(), member_ids=members, ip_address=request.remote_addr)
    except DomainError as exc:
        return _team_page(teams.get_team(db.session, current_user, team_id), _error(exc), exc.status)
    flash(_("Team %(name)s is saved.", name=team.name), "info")
    return redirect(url_for("admin_people.edit_team", team_id=team_id))


# --- API tokens ------------------------------------------------------------------------------------------------


def _tokens_page(error: tuple[str | None, str] | None = None, status: int = 200, **extra: Any):
    raw = request.values.get("user_id", "")
    user_id = int(raw) if raw.isdigit() else None
    owners, _total = user_service.list_users(db.session, current_user, limit=2000, active=True)
    return render_template("admin_people/tokens.html", tokens=user_service.all_tokens(db.session, current_user,
                                                                                       user_id),
                           owners=owners, user_id=user_id, error=error, form=PostForm(), **extra), status


@bp.route("/tokens", methods=["GET", "POST"])
def tokens():
    """Every API token (never its secret), newest first; issue one for a user (the secret is shown once)."""
    if request.method == "GET":
        return _tokens_page()
    raw = request.form.get("user_id", "")
    name = request.form.get("name", "")
    try:
        if not raw.isdigit():
            raise ValidationFailed(t("Choose whose token it is"), field="user_id")
        record, plain = user_service.issue_token(db.session, current_user, int(raw), name,
                                                 ip_address=request.remote_addr)
    except DomainError as exc:
        return _tokens_page(_error(exc), exc.status, name=name)
    return _no_store(render_template("admin_people/secret.html", user=record.user, password=None,
                                     token=(record, plain)))


@bp.post("/tokens/<int:token_id>/revoke")
def revoke_token(token_id: int):
    """Revoke a token at once: API calls with it are refused from the next one on."""
    try:
        record = user_service.revoke_token(db.session, current_user, token_id, ip_address=request.remote_addr)
    except DomainError as exc:
        return _tokens_page(_error(exc), exc.status)
    flash(_("Token %(name)s is revoked.", name=record.name), "info")
    return redirect(url_for("admin_people.tokens", user_id=request.args.get("user_id", "")))


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
