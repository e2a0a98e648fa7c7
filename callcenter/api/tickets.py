"""/api/v1/tickets: the service desk — list with filters, create, read, change (status, priority, assignment),
notes, and each ticket's history. Role scope as elsewhere (services.scope.tickets)."""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask import current_app
from flask.views import MethodView
from marshmallow import fields, validate

from callcenter.api.auth import current_actor
from callcenter.api.base import resource_blueprint
from callcenter.api.errors import ErrorSchema
from callcenter.api.schemas import ID, Id, PageSchema, SearchArgs, StrictSchema, limit_offset, page_of
from callcenter.extensions import db
from callcenter.models import utcnow
from callcenter.services import tickets as ticket_service
from callcenter.services.tickets import TicketFilters, TicketPolicy

blp = resource_blueprint("tickets", __name__, "/tickets",
                         "Service tickets: workflow new → open → pending → resolved → closed, assignment, SLA")

NOT_FOUND = {"schema": ErrorSchema, "description": "No such ticket, or not yours to see"}
FORBIDDEN = {"schema": ErrorSchema, "description": "An assignment your role may not make"}
INVALID = {"schema": ErrorSchema, "description": "Invalid field or workflow move (see `field`)"}


def policy() -> TicketPolicy:
    return TicketPolicy.from_config(current_app.config)


class TicketArgs(SearchArgs):
    status = fields.String(load_default=None, validate=validate.OneOf(ticket_service.STATUSES))
    priority = fields.String(load_default=None, validate=validate.OneOf(ticket_service.PRIORITIES))
    team_id = fields.Integer(load_default=None, validate=Id)
    assignee_id = fields.Integer(load_default=None, validate=Id)
    unassigned = fields.Boolean(load_default=False, metadata={"description": "Only tickets nobody has"})
    contact_id = fields.Integer(load_default=None, validate=Id)
    account_id = fields.Integer(load_default=None, validate=Id)
    breached = fields.Boolean(load_default=None, allow_none=True,
                              metadata={"description": "true: past the resolution deadline, or the first-response "
                                                       "one unanswered; false: neither"})


def filters_of(args: dict[str, Any]) -> TicketFilters:
    """The service's filters from the list's query arguments (shared with the pages)."""
    return TicketFilters(status=args.get("status"), priority=args.get("priority"), team_id=args.get("team_id"),
                         assignee_id=args.get("assignee_id"), unassigned=bool(args.get("unassigned")),
                         contact_id=args.get("contact_id"), account_id=args.get("account_id"),
                         breached=args.get("breached"), q=args.get("q") or "")


class TicketCreate(StrictSchema):
    subject = fields.String(required=True, validate=validate.Length(min=1, max=200))
    description = fields.String(load_default="", validate=validate.Length(max=10_000))
    priority = fields.String(load_default="normal", validate=validate.OneOf(ticket_service.PRIORITIES))
    contact_id = fields.Integer(load_default=None, allow_none=True, validate=Id)
    account_id = fields.Integer(load_default=None, allow_none=True, validate=Id,
                                metadata={"description": "Default: the contact's account"})
    call_id = fields.Integer(load_default=None, allow_none=True, validate=Id,
                             metadata={"description": "A call of yours; its contact is the default contact"})
    team_id = fields.Integer(load_default=None, allow_none=True, validate=Id)
    assignee_id = fields.Integer(load_default=None, allow_none=True, validate=Id,
                                 metadata={"description": "With team_id, default: you, in your team"})
    due_at = fields.AwareDateTime(load_default=None, allow_none=True,
                                  metadata={"description": "Default: from the account's service agreement"})


class TicketUpdate(StrictSchema):
    subject = fields.String(validate=validate.Length(min=1, max=200))
    description = fields.String(validate=validate.Length(max=10_000))
    priority = fields.String(validate=validate.OneOf(ticket_service.PRIORITIES))
    status = fields.String(validate=validate.OneOf(ticket_service.STATUSES),
                           metadata={"description": "Allowed moves: " + "; ".join(
                               f"{a} → {', '.join(sorted(b)) or '(final)'}"
                               for a, b in ticket_service.TRANSITIONS.items())})
    team_id = fields.Integer(allow_none=True, validate=Id,
                             metadata={"description": "Dispatch to a team (null: undispatched)"})
    assignee_id = fields.Integer(allow_none=True, validate=Id,
                                 metadata={"description": "Someone of the ticket's team (null: back to the team)"})


class Ref(ma.Schema):
    id = fields.Integer()
    name = fields.String()


class TicketOut(ma.Schema):
    id = fields.Integer()
    subject = fields.String()
    description = fields.String()
    status = fields.String()
    priority = fields.String()
    contact_id = fields.Integer(allow_none=True)
    contact = fields.Function(lambda t: {"id": t.contact.id, "name": t.contact.display_name} if t.contact else None,
                              allow_none=True)
    account_id = fields.Integer(allow_none=True)
    call_id = fields.Integer(allow_none=True)
    team_id = fields.Integer(allow_none=True)
    assignee_id = fields.Integer(allow_none=True)
    assignee = fields.Function(lambda t: {"id": t.assignee.id, "name": t.assignee.full_name} if t.assignee
                               else None, allow_none=True)
    created_by_id = fields.Integer(allow_none=True)
    first_response_due_at = fields.DateTime(allow_none=True)
    first_responded_at = fields.DateTime(allow_none=True)
    due_at = fields.DateTime(allow_none=True)
    warn_at = fields.DateTime(allow_none=True, metadata={"description": "When the assignee is warned"})
    resolved_at = fields.DateTime(allow_none=True)
    escalation_level = fields.Integer(metadata={"description": "0, 1 (assignee warned), 2 (breached: supervisor)"})
    breached = fields.Function(lambda t: ticket_service.is_breached(t, utcnow()))
    created_at = fields.DateTime()
    updated_at = fields.DateTime()


class TicketPage(PageSchema):
    items = fields.List(fields.Nested(TicketOut), required=True)


class NoteIn(StrictSchema):
    body = fields.String(required=True, validate=validate.Length(min=1, max=10_000))


class EventOut(ma.Schema):
    id = fields.Integer()
    ticket_id = fields.Integer()
    at = fields.DateTime()
    actor_id = fields.Integer(allow_none=True)
    kind = fields.String(metadata={"description": "created, status, assigned, priority, edited, note, escalated, "
                                                  "reopened"})
    body = fields.String()
    data = fields.Dict()


@blp.route("")
class Tickets(MethodView):
    @blp.arguments(TicketArgs, location="query")
    @blp.response(200, TicketPage)
    @blp.alt_response(422, **INVALID)
    def get(self, args: dict[str, Any]):
        """Tickets you may see, filtered; `q` searches subject and description. Nearest deadline first."""
        items, total = ticket_service.search_tickets(db.session, current_actor(), filters_of(args),
                                                     **limit_offset(args))
        return page_of(items, total, args)

    @blp.arguments(TicketCreate)
    @blp.response(201, TicketOut)
    @blp.alt_response(403, **FORBIDDEN)
    @blp.alt_response(404, schema=ErrorSchema, description="The contact, account, call, team or user is not found")
    @blp.alt_response(422, **INVALID)
    def post(self, data: dict[str, Any]):
        """Open a ticket (status `new`); deadlines come from the account's service agreement."""
        return ticket_service.create_ticket(db.session, current_actor(), policy=policy(), **data)


@blp.route(f"/<{ID}:ticket_id>")
class TicketById(MethodView):
    @blp.response(200, TicketOut)
    @blp.alt_response(404, **NOT_FOUND)
    def get(self, ticket_id: int):
        """One ticket."""
        return ticket_service.get_ticket(db.session, current_actor(), ticket_id)

    @blp.arguments(TicketUpdate, required=False)
    @blp.response(200, TicketOut)
    @blp.alt_response(403, **FORBIDDEN)
    @blp.alt_response(404, **NOT_FOUND)
    @blp.alt_response(422, **INVALID)
    def patch(self, data: dict[str, Any], ticket_id: int):
        """Change the given fields, all or nothing; each change is a line of the ticket's history."""
        return ticket_service.update_ticket(db.session, current_actor(), ticket_id, policy=policy(), **data)


@blp.route(f"/<{ID}:ticket_id>/notes")
class TicketNotes(MethodView):
    @blp.arguments(NoteIn)
    @blp.response(201, EventOut)
    @blp.alt_response(404, **NOT_FOUND)
    @blp.alt_response(422, **INVALID)
    def post(self, data: dict[str, Any], ticket_id: int):
        """Add a note; your first note on a new ticket is its first response."""
        return ticket_service.add_note(db.session, current_actor(), ticket_id, data["body"])


@blp.route(f"/<{ID}:ticket_id>/events")
class TicketEvents(MethodView):
    @blp.response(200, EventOut(many=True))
    @blp.alt_response(404, **NOT_FOUND)
    def get(self, ticket_id: int):
        """The ticket's history, oldest first."""
        return ticket_service.ticket_events(db.session, current_actor(), ticket_id)
