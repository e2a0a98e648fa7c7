"""The profile page: each person chooses the language and time zone of their own screens."""

from __future__ import annotations

from datetime import UTC, datetime

from flask import Blueprint, Flask, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel import refresh
from flask_login import current_user, login_required
from flask_wtf import FlaskForm
from wtforms import SelectField

from callcenter.extensions import db
from callcenter.i18n import language_name, translate
from callcenter.services import locales
from callcenter.services import users as user_service
from callcenter.services.errors import DomainError

bp = Blueprint("profile", __name__, template_folder="templates")


class ProfileForm(FlaskForm):
    # Choices are not enforced by the form: the service refuses unknown values with its own message (a 422).
    language = SelectField(_l("Language"), validate_choice=False)
    time_zone = SelectField(_l("Time zone"), validate_choice=False)


def _form() -> ProfileForm:
    form = ProfileForm()
    # Each language named in itself, so a person who cannot read the current one still finds theirs.
    form.language.choices = [("", _("Browser language"))] + [
        (code, language_name(code, code) or code) for code in locales.SUPPORTED_LANGUAGES
    ]
    form.time_zone.choices = [("", _("Default (UTC)"))] + [(zone, zone) for zone in locales.time_zones()]
    if request.method == "GET":
        form.language.data = current_user.language or ""
        form.time_zone.data = current_user.time_zone or ""
    return form


@bp.route("/profile", methods=["GET", "POST"])
@login_required
def edit():
    """Show and change the signed-in person's language and time zone."""
    form = _form()
    status = 200
    if form.validate_on_submit():
        try:
            user_service.update_own_locale(db.session, current_user, form.language.data or None,
                                           form.time_zone.data or None, ip_address=request.remote_addr)
        except DomainError as exc:
            db.session.rollback()
            flash(translate(exc.message), "error")
            status = exc.status
        else:
            # Read after saving, so the confirmation is already in the newly chosen language.
            refresh()
            flash(_("Your language and time zone are saved."), "info")
            return redirect(url_for("profile.edit"))
    elif request.method == "POST":
        status = 400
    return render_template("profile.html", form=form, now=datetime.now(UTC)), status


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
