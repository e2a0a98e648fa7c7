"""Recording playback and notes for the pages (the call page's player): the audio is fetched from the carrier by
the product and streamed to the browser, only for those allowed (services.recordings), every playback audited."""

from __future__ import annotations

from flask import Blueprint, Flask, abort, flash, redirect, request, url_for
from flask_login import current_user, login_required

from callcenter.extensions import db
from callcenter.i18n import translate
from callcenter.media import private_audio
from callcenter.services import recordings
from callcenter.services.errors import DomainError, Forbidden, NotFound
from callcenter.telephony import get_provider

bp = Blueprint("recordings", __name__)


@bp.get("/recordings/<int:recording_id>/audio")
@login_required
def audio(recording_id: int):
    """Stream a recording you may play (403 and an audit entry otherwise)."""
    try:
        media = recordings.play(db.session, get_provider(), current_user, recording_id,
                                ip_address=request.remote_addr)
    except Forbidden:
        abort(403)
    except NotFound:
        abort(404)
    except DomainError:
        abort(409)
    return private_audio(media)


@bp.post("/recordings/<int:recording_id>/notes")
@login_required
def add_note(recording_id: int):
    """A note at a moment of the recording, from the call page's form; back to the call page."""
    raw = (request.form.get("offset_seconds") or "0").strip()
    offset = int(raw) if raw.isascii() and raw.isdigit() and len(raw) <= 6 else -1
    try:
        note = recordings.add_note(db.session, current_user, recording_id, offset_seconds=offset,
                                   body=request.form.get("body", ""), ip_address=request.remote_addr)
    except Forbidden:
        abort(403)
    except NotFound:
        abort(404)
    except DomainError as exc:
        flash(translate(exc.message))
        return redirect(request.referrer or url_for("call_log.index"))
    return redirect(url_for("call_log.story", call_sid=note.recording.call_sid) + "#recordings")


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
