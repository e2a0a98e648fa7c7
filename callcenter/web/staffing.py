"""The staffing page: agents for one interval (Erlang C or A) and a day's shift plan, for supervisors and admins.

The same inputs as `callcenter staffing`; the form is read from the query string (GET, a bookmarkable result) or a
posted form alike. The shift plan's forecast is typed by hand, one interval a line. Every figure comes from
`services.staffing`, whose formulas are written down in docs/staffing.md.
"""

from __future__ import annotations

from flask import Blueprint, Flask, abort, render_template, request
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required
from wtforms import Form, StringField, TextAreaField
from wtforms.fields import DecimalField, IntegerField
from wtforms.validators import Length, NumberRange, Optional, Regexp, StopValidation

from callcenter.i18n import translate
from callcenter.models import Role
from callcenter.services import staffing as staffing_service
from callcenter.services.staffing import IntervalForecast, StaffingInputError

bp = Blueprint("staffing", __name__, template_folder="templates")

MAX_PLAN_INTERVALS = 96  # a day of 15-minute intervals
MAX_PLAN_CHARS = 4000


def _given(form: Form, field) -> None:
    """Required, where 0 is a value (DataRequired would refuse it) and a bare GET shows the defaults."""
    if field.data is None:
        raise StopValidation(_("Required."))


class StaffingForm(Form):
    """Plain wtforms (no CSRF token): the page only computes, and GET keeps the result's URL shareable."""

    calls = DecimalField(_l("Calls in the interval"), default=100, validators=[_given])
    interval_minutes = DecimalField(_l("Interval (minutes)"), default=30, validators=[_given])
    aht_seconds = DecimalField(_l("Average handle time (seconds)"), default=180, validators=[_given])
    target_service_level = DecimalField(_l("Service level target (0 to 1)"), default=0.8,
                                        validators=[_given])
    answer_within_seconds = DecimalField(_l("Answered within (seconds)"), default=20, validators=[_given])
    max_occupancy = DecimalField(_l("Maximum occupancy (0 to 1)"), default=0.85, validators=[Optional()])
    shrinkage = DecimalField(_l("Shrinkage (0 to 1)"), default=0.3, validators=[Optional()])
    patience_seconds = DecimalField(_l("Callers' mean patience (seconds, empty for Erlang C)"),
                                    validators=[Optional()])
    agents = IntegerField(_l("Agents on the phones (empty to search)"),
                          validators=[Optional(), NumberRange(min=0)])
    plan_start = StringField(_l("First interval starts at (HH:MM)"), default="08:00",
                             validators=[Optional(), Regexp(r"^([01]?\d|2[0-3]):[0-5]\d$",
                                                            message=_l("Write the time as HH:MM."))])
    plan = TextAreaField(_l("Shift plan forecast: one interval a line, calls and optionally AHT in seconds"),
                         validators=[Optional(), Length(max=MAX_PLAN_CHARS)])


def _number(value) -> float | None:
    return None if value is None else float(value)


def _parse_plan(text: str, default_aht: float) -> list[IntervalForecast]:
    """`calls` or `calls aht` per line; blank lines are skipped. Raises ValueError with a reader's message."""
    forecasts = []
    for number, line in enumerate(text.splitlines(), start=1):
        parts = line.replace(",", " ").split()
        if not parts:
            continue
        try:
            values = [float(part) for part in parts]
        except ValueError:
            raise ValueError(_("Line %(line)d: write the calls, then optionally the AHT in seconds.",
                               line=number)) from None
        if len(values) > 2:
            raise ValueError(_("Line %(line)d: write the calls, then optionally the AHT in seconds.", line=number))
        forecasts.append(IntervalForecast(calls=values[0], aht_seconds=values[1] if len(values) == 2 else default_aht))
    if len(forecasts) > MAX_PLAN_INTERVALS:
        raise ValueError(_("At most %(max)d intervals.", max=MAX_PLAN_INTERVALS))
    return forecasts


def _clock(start: str, minutes: int) -> str:
    hours, mins = (int(part) for part in start.split(":"))
    total = (hours * 60 + mins + minutes) % (24 * 60)
    return f"{total // 60:02d}:{total % 60:02d}"


@bp.route("/staffing", methods=["GET", "POST"])
@login_required
def page():
    """Supervisors and admins: compute one interval's staffing, and a shift plan when a forecast is given."""
    if current_user.role not in (Role.SUPERVISOR.value, Role.ADMIN.value):
        abort(403)
    submitted = bool(request.values)
    form = StaffingForm(request.values if submitted else None)
    result = plan = None
    errors: list[str] = []
    status = 200
    if form.validate():
        settings = {"target_service_level": float(form.target_service_level.data),
                    "answer_within_seconds": float(form.answer_within_seconds.data),
                    "max_occupancy": _number(form.max_occupancy.data) or 1.0,
                    "shrinkage": _number(form.shrinkage.data) or 0.0,
                    "patience_seconds": _number(form.patience_seconds.data)}
        try:
            result = staffing_service.staffing(float(form.calls.data), float(form.interval_minutes.data),
                                               float(form.aht_seconds.data), agents=form.agents.data, **settings)
            if form.plan.data and form.plan.data.strip():
                forecasts = _parse_plan(form.plan.data, float(form.aht_seconds.data))
                plan = staffing_service.shift_plan(forecasts, float(form.interval_minutes.data), **settings)
        except StaffingInputError as exc:
            errors.append(translate(exc.message))
        except ValueError as exc:
            errors.append(str(exc))
    if errors or form.errors:
        status = 422
    start = form.plan_start.data or "00:00"
    rows = [{"start": _clock(start, row.start_minute), "row": row} for row in plan or []]
    return render_template("staffing.html", form=form, result=result, rows=rows, errors=errors,
                           version=staffing_service.FORMULAS_VERSION), status


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
