"""Who is calling the API: a signed-in session (with a CSRF header on writes) or an admin-issued bearer token.

flask-login resolves both (callcenter/web/auth.py: the session's user_loader, the token's request_loader);
this module adds what an API needs on top: a JSON 401 instead of a redirect, the CSRF check for cookie
sessions only (a bearer token cannot be sent by a cross-site form, a cookie can), and JSON-only bodies.
"""

from __future__ import annotations

from flask import current_app, request, session
from flask_login import current_user
from flask_smorest import Blueprint
from flask_wtf.csrf import generate_csrf

from callcenter.api import errors
from callcenter.api.schemas import CsrfTokenSchema
from callcenter.extensions import csrf, db
from callcenter.models import User
from callcenter.services import auth as auth_service
from callcenter.services.errors import AuthenticationFailed, DomainError
from callcenter.services.messages import t

UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})

# OpenAPI security schemes; every operation requires one of them (see api.init_app).
SECURITY_SCHEMES = {
    "bearerAuth": {
        "type": "http",
        "scheme": "bearer",
        "description": "An API token issued by an admin (POST /api/v1/users/{user_id}/tokens)",
    },
    "cookieAuth": {
        "type": "apiKey",
        "in": "cookie",
        "name": "session",
        "description": "The session cookie set by signing in at /login. Writes also need the X-CSRFToken "
        "header (GET /api/v1/csrf-token).",
    },
}
SECURITY_REQUIREMENT = [{"bearerAuth": []}, {"cookieAuth": []}]


class UnsupportedMediaType(DomainError):
    status = 415


def bearer_token() -> str | None:
    """The token from `Authorization: Bearer <token>`, or None when the request does not use one."""
    header = request.headers.get("Authorization", "")
    if not header.lower().startswith("bearer "):
        return None
    return header[7:].strip()


def current_actor() -> User:
    """The signed-in user as a plain model instance, for the services."""
    return current_user._get_current_object()  # type: ignore[attr-defined]


def _check_token_matches_session(token: str) -> None:
    """A request that sends a token is judged by that token, even when a session cookie rides along."""
    if "_user_id" not in session:
        return  # the user came from the request_loader, i.e. from this very token
    token_user = auth_service.user_for_token(db.session, token)
    if token_user is None or token_user.id != current_actor().id:
        raise AuthenticationFailed(t('Invalid or revoked API token'))
    db.session.commit()  # last_used_at


def _check_csrf() -> None:
    """Cookie-authenticated writes must carry the CSRF token in a header (raises CSRFError, rendered as 400)."""
    if request.method in UNSAFE_METHODS and current_app.config.get("WTF_CSRF_ENABLED", True):
        csrf.protect()


def _accepts_multipart() -> bool:
    """A view class that says `accepts_multipart = True` takes file uploads (and parses them itself)."""
    view = current_app.view_functions.get(request.endpoint or "")
    return request.mimetype == "multipart/form-data" and getattr(getattr(view, "view_class", None),
                                                                  "accepts_multipart", False)


def _check_json_body() -> None:
    """Bodies are JSON; anything else would be silently ignored by the parser, so refuse it."""
    if _accepts_multipart():
        return
    if request.method in UNSAFE_METHODS and request.get_data(cache=True) and not request.is_json:
        raise UnsupportedMediaType("Send the request body as JSON with Content-Type: application/json")


def require_authentication() -> None:
    """before_request of every protected API blueprint."""
    token = bearer_token()
    if not current_user.is_authenticated:
        if token:
            raise AuthenticationFailed(t('Invalid or revoked API token'))
        raise AuthenticationFailed(t('Sign in, or send an API token as Authorization: Bearer <token>'))
    if token:
        _check_token_matches_session(token)
    else:
        _check_csrf()
    _check_json_body()


def protect(blueprint: Blueprint) -> None:
    """Require a user on every route of `blueprint`; the app-wide CSRFProtect is replaced by the check above."""
    blueprint.before_request(require_authentication)


blp = Blueprint(
    "api_session",
    __name__,
    url_prefix="/api/v1",
    description="The CSRF token a browser session sends with writes",
)
errors.install(blp)


@blp.route("/csrf-token")
@blp.doc(security=[])
@blp.response(200, CsrfTokenSchema)
def csrf_token():
    """The CSRF token for this session: send it as the X-CSRFToken header on POST/PATCH/PUT/DELETE.

    Not needed with a bearer token. Public, because a token is only useful with its own session cookie.
    """
    return {"csrf_token": generate_csrf()}
