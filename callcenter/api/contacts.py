"""/api/v1/contacts: create, read, update, and search by name, email, account or any phone number."""

from __future__ import annotations

from typing import Any

from flask import current_app
from flask.views import MethodView

from callcenter.api.auth import current_actor
from callcenter.api.base import resource_blueprint
from callcenter.api.errors import ErrorSchema
from callcenter.api.schemas import ID, ContactFields, ContactOut, ContactPage, SearchArgs, limit_offset, page_of
from callcenter.extensions import db
from callcenter.services import contacts as contact_service
from callcenter.services.contacts import PhoneInput

blp = resource_blueprint(
    "contacts", __name__, "/contacts", "Contacts (people who call or are called) and their phone numbers"
)


def _split_phones(data: dict[str, Any]) -> tuple[dict[str, Any], list[PhoneInput] | None]:
    """The service takes phones apart from the other fields; None means "leave the numbers as they are"."""
    values = dict(data)
    phones = values.pop("phones", None)
    if phones is None:
        return values, None
    return values, [PhoneInput(number=p["number"], label=p["label"], region=p.get("region")) for p in phones]


@blp.route("")
class Contacts(MethodView):
    @blp.arguments(SearchArgs, location="query")
    @blp.response(200, ContactPage)
    def get(self, args: dict[str, Any]):
        """Search contacts you may see.

        `q` matches first/last name, email, account name, or any of a contact's numbers typed in any common
        format ("(415) 555-0100", "+1 415-555-0100", "4155550100"). Without `q`, lists every visible contact.
        """
        items, total = contact_service.search_contacts(
            db.session, current_actor(), args["q"], region=current_app.config["DEFAULT_REGION"], **limit_offset(args)
        )
        return page_of(items, total, args)

    @blp.arguments(ContactFields)
    @blp.response(201, ContactOut)
    @blp.alt_response(403, schema=ErrorSchema, description="`owner_id` names someone else and you are an agent")
    @blp.alt_response(422, schema=ErrorSchema, description="Invalid field (see `field`)")
    def post(self, data: dict[str, Any]):
        """Create a contact, owned by you unless `owner_id` says otherwise. Needs a name, an email or a number.

        `account_id` must be an account you may see; only supervisors (within their team) and admins name
        another owner.
        """
        values, phones = _split_phones(data)
        return contact_service.create_contact(
            db.session, current_actor(), values, phones or [], region=current_app.config["DEFAULT_REGION"]
        )


@blp.route(f"/<{ID}:contact_id>")
class ContactById(MethodView):
    @blp.response(200, ContactOut)
    @blp.alt_response(404, schema=ErrorSchema, description="No such contact, or not yours to see")
    def get(self, contact_id: int):
        """One contact; contacts outside your scope answer 404."""
        return contact_service.get_contact(db.session, current_actor(), contact_id)

    @blp.arguments(ContactFields, required=False)  # every field is optional: no body changes nothing
    @blp.response(200, ContactOut)
    @blp.alt_response(404, schema=ErrorSchema, description="No such contact, or not yours to see")
    @blp.alt_response(403, schema=ErrorSchema, description="Owner change by an agent")
    @blp.alt_response(422, schema=ErrorSchema, description="Invalid field (see `field`)")
    def patch(self, data: dict[str, Any], contact_id: int):
        """Change the given fields; `phones`, when given, replaces the whole list."""
        values, phones = _split_phones(data)
        contact = contact_service.update_contact(
            db.session, current_actor(), contact_id, values, phones, region=current_app.config["DEFAULT_REGION"]
        )
        # update_contact sets account_id but keeps the `account` it loaded before; reload it for the answer.
        db.session.expire(contact, ["account"])
        return contact
