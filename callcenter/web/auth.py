"""Login and logout pages, and how a request is tied to a user (session cookie or API token)."""

from __future__ import annotations

import hmac
from urllib.parse import urlsplit

from flask import Blueprint, Flask, current_app, flash, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required, login_user, logout_user
from flask_wtf import FlaskForm
from wtforms import BooleanField, PasswordField, StringField
from wtforms.validators import DataRequired, Length

from callcenter.extensions import db, login_manager
from callcenter.i18n import translate
from callcenter.models import Role, User
from callcenter.redis_conn import get_redis
from callcenter.services import auth as auth_service
from callcenter.services.errors import AuthenticationFailed, TooManyAttempts

bp = Blueprint("auth", __name__, template_folder="templates")


REQUIRED = DataRequired(_l("This field is required."))
AT_MOST = _l("At most %(max)d characters.")


class LoginForm(FlaskForm):
    username = StringField(_l("Username"), validators=[REQUIRED, Length(max=80, message=AT_MOST)])
    password = PasswordField(_l("Password"), validators=[REQUIRED, Length(max=256, message=AT_MOST)])
    remember = BooleanField(_l("Keep me signed in"))


def login_throttle() -> auth_service.LoginThrottle:
    from flask import current_app

    return auth_service.LoginThrottle(
        get_redis(),
        max_failures=current_app.config["LOGIN_MAX_FAILURES"],
        window_seconds=current_app.config["LOGIN_LOCKOUT_SECONDS"],
    )


def home_for(user: User) -> str:
    """Where a user lands after login: supervisors and admins on the wallboard, agents on the console."""
    if user.role in (Role.SUPERVISOR.value, Role.ADMIN.value) and "agent_ui.wallboard" in _endpoints():
        return url_for("agent_ui.wallboard")
    if "agent_ui.console" in _endpoints():
        return url_for("agent_ui.console")
    return url_for("auth.whoami")


def _endpoints() -> set[str]:
    from flask import current_app

    return set(current_app.view_functions)


def _safe_next(target: str | None) -> str | None:
    """Only same-site relative paths, so `next=` cannot redirect off-site."""
    if not target:
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return None
    return target


@bp.route("/login", methods=["GET", "POST"])
def login():
    if current_user.is_authenticated:
        return redirect(home_for(current_user))
    form = LoginForm()
    status = 200
    if form.validate_on_submit():
        refused = _demo_refused(form.password.data)
        if refused:
            flash(refused, "error")
            return render_template("login.html", form=form), 403
        try:
            user = auth_service.authenticate(
                db.session, login_throttle(), form.username.data, form.password.data, request.remote_addr
            )
        except TooManyAttempts as exc:
            flash(translate(exc.message), "error")
            status = 429
        except AuthenticationFailed as exc:
            flash(translate(exc.message), "error")
            status = 401
        else:
            login_user(user, remember=form.remember.data)
            return redirect(_safe_next(request.args.get("next")) or home_for(user))
    elif request.method == "POST":
        status = 400
    return render_template("login.html", form=form), status


def _demo_refused(password: str) -> str | None:
    """Demo users are never served on a host other machines can reach: their password is published."""
    from callcenter.seed import DEMO_PASSWORD, demo_refused

    if password != DEMO_PASSWORD or demo_refused(current_app.config) is None:
        return None
    return _("The demo password is refused on a server other machines can reach; ask an admin to set a real one.")


@bp.post("/logout")
@login_required
def logout():
    logout_user()
    flash(_("You are signed out."), "info")
    return redirect(url_for("auth.login"))


@bp.get("/")
def index():
    if current_user.is_authenticated:
        return redirect(home_for(current_user))
    return redirect(url_for("auth.login"))


@bp.get("/me")
@login_required
def whoami():
    return {"id": current_user.id, "username": current_user.username, "role": current_user.role}


@login_manager.user_loader
def load_user(user_id: str) -> User | None:
    """The session's user, while active and while the password is the one they signed in with.

    Runs on every request and every socket connect and event: a password change (User.session_fingerprint)
    ends every session and remember-me cookie made before it, here.
    """
    number, _, fingerprint = user_id.partition(":")
    user = db.session.get(User, int(number)) if number.isdigit() else None
    if user is None or not user.active or not hmac.compare_digest(fingerprint, user.session_fingerprint):
        return None
    return user


def keep_own_session(user: User) -> None:
    """After a user changed their own password, this session (and its remember-me cookie) stays signed in;
    every other one ends."""
    if session.get("_user_id", "").partition(":")[0] != str(user.id):
        return
    session["_user_id"] = user.get_id()
    if request.cookies.get(current_app.config.get("REMEMBER_COOKIE_NAME", "remember_token")):
        session["_remember"] = "set"  # flask-login writes the cookie again with the new id


@login_manager.request_loader
def load_user_from_token(req) -> User | None:
    """`Authorization: Bearer <token>` for API clients; tokens are issued by an admin."""
    header = req.headers.get("Authorization", "")
    if not header.lower().startswith("bearer "):
        return None
    user = auth_service.user_for_token(db.session, header[7:].strip())
    if user is not None:
        db.session.commit()  # last_used_at
    return user


def init_app(app: Flask) -> None:
    login_manager.login_view = "auth.login"
    login_manager.session_protection = "strong"
    app.register_blueprint(bp)
