"""API tokens: admins issue them for a user (the secret is shown once), list and revoke them."""

from __future__ import annotations

from typing import Any

from flask import request
from flask.views import MethodView

from callcenter.api.auth import current_actor
from callcenter.api.base import resource_blueprint
from callcenter.api.errors import ErrorSchema
from callcenter.api.schemas import ID, IssuedToken, TokenCreate, TokenOut
from callcenter.extensions import db
from callcenter.services import users as user_service

blp = resource_blueprint("tokens", __name__, "", "Bearer tokens for API clients, issued and revoked by admins")


@blp.route(f"/users/<{ID}:user_id>/tokens")
class UserTokens(MethodView):
    @blp.response(200, TokenOut(many=True))
    @blp.alt_response(403, schema=ErrorSchema, description="Only admins manage tokens")
    @blp.alt_response(404, schema=ErrorSchema, description="No such user")
    def get(self, user_id: int):
        """A user's tokens, newest first, revoked ones included; never the secret (admins only)."""
        return user_service.list_tokens(db.session, current_actor(), user_id)

    @blp.arguments(TokenCreate)
    @blp.response(201, IssuedToken)
    @blp.alt_response(403, schema=ErrorSchema, description="Only admins issue tokens")
    @blp.alt_response(404, schema=ErrorSchema, description="No such user")
    @blp.alt_response(422, schema=ErrorSchema, description="Invalid field (see `field`)")
    def post(self, data: dict[str, Any], user_id: int):
        """Issue a token for the user (admins only). `token` is in this answer only: it is stored hashed."""
        record, plain = user_service.issue_token(
            db.session, current_actor(), user_id, data["name"], ip_address=request.remote_addr
        )
        return {
            "id": record.id,
            "user_id": record.user_id,
            "name": record.name,
            "created_at": record.created_at,
            "last_used_at": record.last_used_at,
            "revoked_at": record.revoked_at,
            "token": plain,
        }


@blp.route(f"/tokens/<{ID}:token_id>")
class TokenById(MethodView):
    @blp.response(204)
    @blp.alt_response(403, schema=ErrorSchema, description="Only admins revoke tokens")
    @blp.alt_response(404, schema=ErrorSchema, description="No such token")
    def delete(self, token_id: int):
        """Revoke a token at once (admins only); revoking it again is harmless."""
        user_service.revoke_token(db.session, current_actor(), token_id, ip_address=request.remote_addr)
