"""/api/v1/accounts: create, read, update, search by name."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView

from callcenter.api.auth import current_actor
from callcenter.api.base import resource_blueprint
from callcenter.api.errors import ErrorSchema
from callcenter.api.schemas import (
    ID,
    AccountCreate,
    AccountOut,
    AccountPage,
    AccountUpdate,
    SearchArgs,
    limit_offset,
    page_of,
)
from callcenter.extensions import db
from callcenter.services import contacts as contact_service

blp = resource_blueprint("accounts", __name__, "/accounts", "Accounts (companies) that contacts belong to")


@blp.route("")
class Accounts(MethodView):
    @blp.arguments(SearchArgs, location="query")
    @blp.response(200, AccountPage)
    def get(self, args: dict[str, Any]):
        """Search accounts you may see by name (all of them without `q`)."""
        items, total = contact_service.search_accounts(db.session, current_actor(), args["q"], **limit_offset(args))
        return page_of(items, total, args)

    @blp.arguments(AccountCreate)
    @blp.response(201, AccountOut)
    @blp.alt_response(403, schema=ErrorSchema, description="`owner_id` names someone else and you are an agent")
    @blp.alt_response(422, schema=ErrorSchema, description="Invalid field (see `field`)")
    def post(self, data: dict[str, Any]):
        """Create an account, owned by you unless `owner_id` says otherwise (supervisors and admins only)."""
        return contact_service.create_account(db.session, current_actor(), data)


@blp.route(f"/<{ID}:account_id>")
class AccountById(MethodView):
    @blp.response(200, AccountOut)
    @blp.alt_response(404, schema=ErrorSchema, description="No such account, or not yours to see")
    def get(self, account_id: int):
        """One account; accounts outside your scope answer 404."""
        return contact_service.get_account(db.session, current_actor(), account_id)

    @blp.arguments(AccountUpdate, required=False)  # every field is optional: no body changes nothing
    @blp.response(200, AccountOut)
    @blp.alt_response(404, schema=ErrorSchema, description="No such account, or not yours to see")
    @blp.alt_response(403, schema=ErrorSchema,
                      description="Seen only through a contact (not your team's), or an owner change by an agent")
    @blp.alt_response(422, schema=ErrorSchema, description="Invalid field (see `field`)")
    def patch(self, data: dict[str, Any], account_id: int):
        """Change the given fields of an account your team owns."""
        return contact_service.update_account(db.session, current_actor(), account_id, data)
