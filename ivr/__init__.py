"""Voice webhooks the carrier calls: IVR, queue wait, agent connect, status callbacks (TwiML out).

Every view is `@fail_safe` (never a 500) around `@twilio_signed` (no side effect without a valid signature).
The blueprint is CSRF-exempt: the carrier's signature is what authenticates these requests.
"""

from __future__ import annotations

from flask import Blueprint, Flask

from callcenter.extensions import csrf

bp = Blueprint("ivr", __name__, url_prefix="/ivr")


def init_app(app: Flask) -> None:
    """Register the voice webhooks at /ivr."""
    csrf.exempt(bp)
    app.register_blueprint(bp)


from ivr import agent_legs, caller, campaign, outbound, status  # noqa: E402,F401  (they register their routes on bp)
