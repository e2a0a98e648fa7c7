"""Knowledge base pages: /kb (list and search), /kb/<id> (an article), /kb/new and /kb/<id>/edit (admins and
supervisors). Everyone signed in reads published articles; every read and write goes through
services.knowledge_base, so the pages show what the API does."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Flask, abort, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import SelectField, StringField, TextAreaField
from wtforms.fields import SelectChoice
from wtforms.validators import DataRequired, Length, Optional

from callcenter.extensions import db, login_manager
from callcenter.i18n import translate
from callcenter.services import knowledge_base as kb
from callcenter.services.errors import DomainError

bp = Blueprint("kb", __name__, url_prefix="/kb", template_folder="templates")
PER_PAGE = 25


class ArticleForm(FlaskForm):
    title = StringField(_l("Title (the problem, as a customer would say it)"),
                        validators=[DataRequired(_l("An article needs a title")), Length(max=200)])
    problem = TextAreaField(_l("Problem"), validators=[Optional(), Length(max=20_000)])
    solution = TextAreaField(_l("Solution"), validators=[Optional(), Length(max=20_000)])
    category = StringField(_l("Category"), validators=[Optional(), Length(max=80)])
    tags = StringField(_l("Tags (separated by commas)"), validators=[Optional(), Length(max=900)])
    status = SelectField(_l("Status"), choices=[SelectChoice("draft", _l("Draft")),
                                                SelectChoice("published", _l("Published"))], default="draft")

    def values(self) -> dict[str, Any]:
        return {"title": self.title.data, "problem": self.problem.data or "", "solution": self.solution.data or "",
                "category": (self.category.data or "").strip() or None, "status": self.status.data,
                "tags": [tag for tag in (self.tags.data or "").split(",") if tag.strip()]}


class CategoryForm(FlaskForm):
    name = StringField(_l("Category"), validators=[DataRequired(_l("Name the category")), Length(max=80)])
    queue_id = SelectField(_l("Suggested to the callers of"), coerce=int, choices=[])


def _category_form() -> CategoryForm:
    form = CategoryForm(prefix="category")
    form.queue_id.choices = [SelectChoice(0, _("no queue")),
                             *(SelectChoice(queue_id, name) for queue_id, name in kb.queue_choices(db.session))]
    return form


@bp.before_request
def require_login() -> ResponseReturnValue | None:
    if not current_user.is_authenticated:
        return login_manager.unauthorized()
    return None


def _require_editor() -> None:
    if not kb.is_editor(current_user):
        abort(403)


@bp.get("")
def index() -> ResponseReturnValue:
    """Every readable article, most used first, or the search's matches for `q`, best first."""
    q = (request.args.get("q") or "").strip()[:200]
    page = max(1, min(request.args.get("page", 1, type=int) or 1, 100_000))
    articles, total = kb.list_articles(db.session, current_user, q=q, limit=PER_PAGE, offset=(page - 1) * PER_PAGE)
    editor = kb.is_editor(current_user)
    return render_template("kb/index.html", articles=articles, total=total, q=q, page=page, per_page=PER_PAGE,
                           can_edit=editor, categories=kb.categories(db.session) if editor else [],
                           category_form=_category_form() if editor else None)


@bp.post("/categories")
def link_category() -> ResponseReturnValue:
    """Make a category (or change its queue): its published articles are suggested to that queue's callers."""
    _require_editor()
    form = _category_form()
    if form.validate_on_submit():
        try:
            category = kb.ensure_category(db.session, form.name.data, queue_id=form.queue_id.data or None)
            if not form.queue_id.data:
                category.queue_id = None
            db.session.commit()
        except DomainError as exc:
            db.session.rollback()
            flash(translate(exc.message), "error")
        else:
            flash(_("Category saved"), "info")
    else:
        for errors in form.errors.values():
            for error in errors:
                flash(str(error), "error")
    return redirect(url_for("kb.index"))


@bp.get("/<int:article_id>")
def article(article_id: int) -> ResponseReturnValue:
    found = _get(article_id)
    return render_template("kb/article.html", article=found, uses=kb.uses(db.session, found.id),
                           can_edit=kb.is_editor(current_user))


def _get(article_id: int):
    try:
        return kb.get_article(db.session, current_user, article_id)
    except DomainError:
        abort(404)


@bp.route("/new", methods=["GET", "POST"])
def new() -> ResponseReturnValue:
    _require_editor()
    form = ArticleForm()
    if form.validate_on_submit():
        try:
            created = kb.create_article(db.session, current_user, form.values())
        except DomainError as exc:
            db.session.rollback()
            flash(translate(exc.message), "error")
        else:
            flash(_("Article saved"), "info")
            return redirect(url_for("kb.article", article_id=created.id))
    return render_template("kb/edit.html", form=form, article=None), 422 if form.errors else 200


@bp.route("/<int:article_id>/edit", methods=["GET", "POST"])
def edit(article_id: int) -> ResponseReturnValue:
    _require_editor()
    found = _get(article_id)
    form = ArticleForm(obj=None if request.method == "POST" else found)
    if request.method == "GET":
        form.category.data = found.category.name if found.category else ""
        form.tags.data = ", ".join(tag.name for tag in found.tags)
    if form.validate_on_submit():
        try:
            kb.update_article(db.session, current_user, article_id, form.values())
        except DomainError as exc:
            db.session.rollback()
            flash(translate(exc.message), "error")
        else:
            flash(_("Article saved"), "info")
            return redirect(url_for("kb.article", article_id=article_id))
    return render_template("kb/edit.html", form=form, article=found), 422 if form.errors else 200


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
