"""/api/v1/users: everyone reads the users in their scope; admins create and change them."""

from __future__ import annotations

from typing import Any

from flask import request
from flask.views import MethodView

from callcenter.api.auth import bearer_token, current_actor
from callcenter.api.base import resource_blueprint
from callcenter.api.errors import ErrorSchema
from callcenter.api.schemas import ID, SearchArgs, UserCreate, UserOut, UserPage, UserUpdate, limit_offset, page_of
from callcenter.extensions import db
from callcenter.redis_conn import get_redis
from callcenter.services import users as user_service
from callcenter.web.auth import keep_own_session

blp = resource_blueprint(
    "users", __name__, "/users", "People who use the product; admins manage them, others read their scope"
)


@blp.route("")
class Users(MethodView):
    @blp.arguments(SearchArgs, location="query")
    @blp.response(200, UserPage)
    def get(self, args: dict[str, Any]):
        """Users you may see (admins: all, supervisors: their team, agents: themselves), by username/name/email."""
        items, total = user_service.list_users(db.session, current_actor(), args["q"], **limit_offset(args))
        return page_of(items, total, args)

    @blp.arguments(UserCreate)
    @blp.response(201, UserOut)
    @blp.alt_response(403, schema=ErrorSchema, description="Only admins create users")
    @blp.alt_response(409, schema=ErrorSchema, description="The username is taken")
    @blp.alt_response(422, schema=ErrorSchema, description="Invalid field (see `field`)")
    def post(self, data: dict[str, Any]):
        """Create a user (admins only)."""
        return user_service.create_user(db.session, current_actor(), data)


@blp.route("/me")
class Me(MethodView):
    @blp.response(200, UserOut)
    def get(self):
        """The user making the request."""
        return current_actor()


@blp.route(f"/<{ID}:user_id>")
class UserById(MethodView):
    @blp.response(200, UserOut)
    @blp.alt_response(404, schema=ErrorSchema, description="No such user, or not in your scope")
    def get(self, user_id: int):
        """One user in your scope."""
        return user_service.get_user(db.session, current_actor(), user_id)

    @blp.arguments(UserUpdate, required=False)  # every field is optional: no body changes nothing
    @blp.response(200, UserOut)
    @blp.alt_response(403, schema=ErrorSchema, description="Only admins change users")
    @blp.alt_response(404, schema=ErrorSchema, description="No such user")
    @blp.alt_response(422, schema=ErrorSchema, description="Invalid field (see `field`)")
    def patch(self, data: dict[str, Any], user_id: int):
        """Change a user (admins only); `active: false` locks them out, sessions and tokens included.

        A new `password` ends every session the user had (on every device); when you change your own, the
        session you send it from stays. API tokens are not revoked: revoke them one by one if they leaked.
        """
        user = user_service.update_user(db.session, current_actor(), user_id, data, ip_address=request.remote_addr,
                                        r=get_redis())
        if "password" in data and bearer_token() is None:
            keep_own_session(user)
        return user
