"""The agent softphone console and the supervisor wallboard: server-rendered pages, vanilla JS, local assets.

The pages talk to the server through the /agent and /supervisor Socket.IO namespaces (live state, offers) and
the JSON API under /api/v1 (call control, wrap-up, contacts). The softphone is the Twilio Voice JS SDK's
`Device` (vendored) with Twilio, or the emulator's shim with the same surface in emulator mode.
"""

from __future__ import annotations

from flask import Blueprint, Flask, abort, render_template, send_from_directory, url_for
from flask_login import current_user, login_required

from callcenter.models import Role
from callcenter.telephony import get_provider

bp = Blueprint("agent_ui", __name__, template_folder="templates", static_folder="static",
               static_url_path="/agent-ui/static")


def softphone_script() -> str:
    """The Device implementation for the configured carrier: the emulator's shim or the vendored SDK."""
    if get_provider().name == "sim":
        return url_for("sim_pages.static", filename="twilio-sim.js")
    return url_for("agent_ui.static", filename="vendor/twilio-voice.min.js")


def _page_context() -> dict:
    return {"softphone_script": softphone_script(), "user": current_user,
            "is_supervisor": current_user.role in (Role.SUPERVISOR.value, Role.ADMIN.value)}


@bp.get("/console")
@login_required
def console():
    """The agent's working page: state, softphone, screen-pop, wrap-up, contacts."""
    return render_template("agent_ui/console.html", **_page_context())


@bp.get("/wallboard")
@login_required
def wallboard():
    """Supervisors' live view of queues and agents, with listen/whisper/barge and forced states."""
    if current_user.role not in (Role.SUPERVISOR.value, Role.ADMIN.value):
        abort(403)
    return render_template("agent_ui/wallboard.html", **_page_context())


@bp.get("/favicon.ico")
def favicon():
    """Browsers ask for it on every page; a 404 there would be noise in every console."""
    return send_from_directory(bp.static_folder, "favicon.svg", mimetype="image/svg+xml", max_age=86400)


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
