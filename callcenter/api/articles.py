"""/api/v1/articles: the knowledge base (read by everyone, written by admins and supervisors), its full-text search,
and sending an article to a customer by SMS or e-mail."""

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
from callcenter.models.knowledge import ARTICLE_STATUSES, MESSAGE_CHANNELS, MESSAGE_STATUSES
from callcenter.services import knowledge_base as kb
from callcenter.services import outbound_messages
from callcenter.services.outbound_messages import Senders

blp = resource_blueprint("articles", __name__, "/articles",
                         "Knowledge base articles (problem and solution), their search, and sending one to a customer")

MAX_TEXT = 20_000


class ArticleFields(StrictSchema):
    title = fields.String(validate=validate.Length(min=1, max=200))
    problem = fields.String(validate=validate.Length(max=MAX_TEXT))
    solution = fields.String(validate=validate.Length(max=MAX_TEXT))
    category = fields.String(allow_none=True, validate=validate.Length(max=80),
                             metadata={"description": "A category name (made when new); null or empty: none"})
    status = fields.String(validate=validate.OneOf(ARTICLE_STATUSES),
                           metadata={"description": "Agents only see published articles (default: draft)"})
    tags = fields.List(fields.String(validate=validate.Length(min=1, max=40)), validate=validate.Length(max=20),
                       metadata={"description": "Replaces the article's tags (lower-cased)"})


class ArticleCreate(ArticleFields):
    title = fields.String(required=True, validate=validate.Length(min=1, max=200))


class ArticleOut(ma.Schema):
    id = fields.Integer()
    title = fields.String()
    problem = fields.String()
    solution = fields.String()
    category = fields.Function(lambda a: a.category.name if a.category else None, allow_none=True,
                               metadata={"type": "string", "nullable": True})
    status = fields.String()
    tags = fields.Function(lambda a: sorted(tag.name for tag in a.tags),
                           metadata={"type": "array", "items": {"type": "string"}})
    usage_count = fields.Integer(metadata={"description": "Times viewed from a pop or sent to a customer"})
    created_by_id = fields.Integer(allow_none=True)
    updated_by_id = fields.Integer(allow_none=True)
    created_at = fields.DateTime()
    updated_at = fields.DateTime()


class ArticlePage(PageSchema):
    items = fields.List(fields.Nested(ArticleOut), required=True)


class ArticleListArgs(SearchArgs):
    status = fields.String(load_default=None, validate=validate.OneOf(ARTICLE_STATUSES))
    category = fields.String(load_default=None, validate=validate.Length(max=80))


class ArticleSearchArgs(StrictSchema):
    q = fields.String(required=True, validate=validate.Length(min=1, max=200),
                      metadata={"description": "Words to find (each must match, as a word or its start); Chinese "
                                               "text matches as written"})
    page = fields.Integer(load_default=1, validate=validate.Range(min=1, max=1_000_000))
    per_page = fields.Integer(load_default=25, validate=validate.Range(min=1, max=100))


class ArticleReadArgs(StrictSchema):
    via = fields.String(load_default=None, validate=validate.OneOf(["pop"]),
                        metadata={"description": "`pop`: opened from a call's screen-pop (counted as a use)"})
    call_id = fields.Integer(load_default=None, validate=Id)


class SendIn(StrictSchema):
    channel = fields.String(required=True, validate=validate.OneOf(MESSAGE_CHANNELS))
    to = fields.String(load_default=None, validate=validate.Length(min=1, max=254),
                       metadata={"description": "A phone number (sms) or an e-mail address; default: the contact's, "
                                                "else the call's caller"})
    contact_id = fields.Integer(load_default=None, validate=Id)
    call_id = fields.Integer(load_default=None, validate=Id)
    call_sid = fields.String(load_default=None, validate=validate.Length(min=1, max=64),
                             metadata={"description": "The call by its carrier id, instead of call_id"})


class MessageOut(ma.Schema):
    id = fields.Integer()
    channel = fields.String(metadata={"enum": list(MESSAGE_CHANNELS)})
    to = fields.String(attribute="to_address")
    status = fields.String(metadata={"enum": list(MESSAGE_STATUSES),
                                     "description": "queued, then sending and sent (or failed, opted_out)"})
    provider_sid = fields.String(allow_none=True, metadata={"description": "The carrier's message SID, or the "
                                                                           "e-mail's Message-ID"})
    error = fields.String(allow_none=True)
    article_id = fields.Integer(allow_none=True)
    call_id = fields.Integer(allow_none=True)
    contact_id = fields.Integer(allow_none=True)
    sender_id = fields.Integer(allow_none=True)
    created_at = fields.DateTime()
    sent_at = fields.DateTime(allow_none=True)


@blp.route("")
class Articles(MethodView):
    @blp.arguments(ArticleListArgs, location="query")
    @blp.response(200, ArticlePage)
    def get(self, args: dict[str, Any]):
        """Articles you may read (agents: published ones), most used first; with `q`, the search's matches."""
        items, total = kb.list_articles(db.session, current_actor(), q=args["q"], status=args["status"],
                                        category=args["category"], **limit_offset(args))
        return page_of(items, total, args)

    @blp.arguments(ArticleCreate)
    @blp.response(201, ArticleOut)
    @blp.alt_response(403, schema=ErrorSchema, description="Admins and supervisors only")
    @blp.alt_response(422, schema=ErrorSchema, description="Invalid field (see `field`)")
    def post(self, data: dict[str, Any]):
        """Write an article (a draft unless `status` is published)."""
        return kb.create_article(db.session, current_actor(), data)


@blp.route("/search")
class ArticleSearch(MethodView):
    @blp.arguments(ArticleSearchArgs, location="query")
    @blp.response(200, ArticlePage)
    def get(self, args: dict[str, Any]):
        """Full-text search over title, problem, solution, category and tags; best matches first."""
        items, total = kb.search(db.session, current_actor(), args["q"], **limit_offset(args))
        return page_of(items, total, args)


@blp.route(f"/<{ID}:article_id>")
class ArticleById(MethodView):
    @blp.arguments(ArticleReadArgs, location="query")
    @blp.response(200, ArticleOut)
    @blp.alt_response(404, schema=ErrorSchema, description="No such article, or a draft and you are an agent")
    def get(self, args: dict[str, Any], article_id: int):
        """One article; `via=pop` counts it as viewed from a call's pop."""
        if args["via"] == "pop":
            return kb.view_from_pop(db.session, current_actor(), article_id, call_id=args["call_id"])
        return kb.get_article(db.session, current_actor(), article_id)

    @blp.arguments(ArticleFields, required=False)
    @blp.response(200, ArticleOut)
    @blp.alt_response(403, schema=ErrorSchema, description="Admins and supervisors only")
    @blp.alt_response(404, schema=ErrorSchema, description="No such article")
    @blp.alt_response(422, schema=ErrorSchema, description="Invalid field (see `field`)")
    def patch(self, data: dict[str, Any], article_id: int):
        """Change the given fields; `tags` replaces the list; `category` null removes it."""
        return kb.update_article(db.session, current_actor(), article_id, data)


@blp.route(f"/<{ID}:article_id>/send")
class ArticleSend(MethodView):
    @blp.arguments(SendIn)
    @blp.response(202, MessageOut)
    @blp.alt_response(404, schema=ErrorSchema, description="No such article, contact or call (or not yours)")
    @blp.alt_response(409, schema=ErrorSchema, description="A draft, or the number opted out of our texts")
    @blp.alt_response(422, schema=ErrorSchema, description="No usable number or address, or a country we do not "
                                                           "text (DIAL_ALLOWED_COUNTRIES; see `field`)")
    def post(self, data: dict[str, Any], article_id: int):
        """Send a published article to a customer by SMS or e-mail (a job: answered at once, `status` queued
        until it is sent). The recipient is `to`, else the contact's mobile number or e-mail, else the call's
        caller."""
        config = current_app.config
        message = outbound_messages.send_article(
            db.session, current_actor(), article_id, channel=data["channel"], to=data["to"],
            contact_id=data["contact_id"], call_id=data["call_id"], call_sid=data["call_sid"],
            senders=Senders(sms_from=config["OUTBOUND_CALLER_ID"], mail_from=config["MAIL_FROM"]),
            region=config["DEFAULT_REGION"], allowed_regions=config["DIAL_ALLOWED_COUNTRIES"])
        db.session.refresh(message)  # the job may have run already (inline, or a fast worker)
        return message
