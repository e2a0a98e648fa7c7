"""The knowledge base (problem -> solution articles, categories, tags, usage) and the messages we send customers.

The full-text index is not a model: it is backend-specific (an FTS5 virtual table on SQLite; a generated tsvector
column with a GIN index on PostgreSQL), created by migration 0009 and read only by services.knowledge_base.
Beside the title, both index `search_document`: the problem, solution, category and tags in one column (so one
index covers them all), written by that service on every change.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, Column, ForeignKey, Index, String, Table, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from callcenter.models.base import Base, TimestampMixin, utcnow
from callcenter.models.routing import Queue
from callcenter.models.users import User

# Backend-specific search structures made by the migration (never by the models): schema comparisons skip them.
SQLITE_FTS_TABLE = "kb_articles_fts"
POSTGRES_SEARCH_INDEX = "ix_kb_articles_search"
POSTGRES_SEARCH_COLUMN = "search_vector"

ARTICLE_STATUSES = ("draft", "published")
USE_KINDS = ("viewed", "sent")
MESSAGE_CHANNELS = ("sms", "email")
MESSAGE_STATUSES = ("queued", "sending", "sent", "failed", "opted_out")


class KbCategory(Base):
    """A category of articles; `queue_id` links it to the queue whose callers it helps (the pop suggests them)."""

    __tablename__ = "kb_categories"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(80), unique=True)
    queue_id: Mapped[int | None] = mapped_column(ForeignKey("queues.id", ondelete="SET NULL"), index=True)

    queue: Mapped[Queue | None] = relationship()


kb_article_tags = Table(
    "kb_article_tags",
    Base.metadata,
    Column("article_id", ForeignKey("kb_articles.id", ondelete="CASCADE"), primary_key=True),
    Column("tag_id", ForeignKey("kb_tags.id", ondelete="CASCADE"), primary_key=True, index=True),
)


class KbTag(Base):
    __tablename__ = "kb_tags"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(40), unique=True)


class KbArticle(TimestampMixin, Base):
    """A problem and its solution; agents see published ones, admins and supervisors write them."""

    __tablename__ = "kb_articles"
    __table_args__ = (
        CheckConstraint("status in ('draft', 'published')", name="status_valid"),
        Index("ix_kb_articles_status_usage", "status", "usage_count"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    problem: Mapped[str] = mapped_column(Text, default="")
    solution: Mapped[str] = mapped_column(Text, default="")
    category_id: Mapped[int | None] = mapped_column(ForeignKey("kb_categories.id", ondelete="SET NULL"), index=True)
    status: Mapped[str] = mapped_column(String(16), default="draft")
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    updated_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    # Times viewed from a pop or sent to a customer (kb_article_uses has each one).
    usage_count: Mapped[int] = mapped_column(default=0)
    search_document: Mapped[str] = mapped_column(Text, default="")

    category: Mapped[KbCategory | None] = relationship()
    tags: Mapped[list[KbTag]] = relationship(secondary=kb_article_tags, order_by="KbTag.name")
    created_by: Mapped[User | None] = relationship(foreign_keys=[created_by_id])
    updated_by: Mapped[User | None] = relationship(foreign_keys=[updated_by_id])


class KbArticleUse(Base):
    """One use of an article: viewed from a pop, or sent to a customer."""

    __tablename__ = "kb_article_uses"
    __table_args__ = (CheckConstraint("kind in ('viewed', 'sent')", name="kind_valid"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    article_id: Mapped[int] = mapped_column(ForeignKey("kb_articles.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    call_id: Mapped[int | None] = mapped_column(ForeignKey("calls.id", ondelete="SET NULL"))
    at: Mapped[datetime] = mapped_column(default=utcnow)


class OutboundMessage(TimestampMixin, Base):
    """What we sent (or tried to send) to whom: an SMS through the carrier or an e-mail.

    The send job is keyed by this row: it only sends a `queued` row, and marks it `sending` (committed) before
    talking to the carrier, so a retried or re-run job never sends twice (at most once; see workers/messages.py).
    """

    __tablename__ = "outbound_messages"
    __table_args__ = (
        CheckConstraint("channel in ('sms', 'email')", name="channel_valid"),
        CheckConstraint("status in ('queued', 'sending', 'sent', 'failed', 'opted_out')", name="status_valid"),
        Index("ix_outbound_messages_address", "channel", "to_address"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    channel: Mapped[str] = mapped_column(String(8))
    to_address: Mapped[str] = mapped_column(String(254))
    from_address: Mapped[str] = mapped_column(String(254), default="")
    subject: Mapped[str] = mapped_column(String(200), default="")
    body: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default="queued")
    # The carrier's message SID, or the e-mail's Message-ID.
    provider_sid: Mapped[str | None] = mapped_column(String(200), index=True)
    error: Mapped[str | None] = mapped_column(String(300))
    article_id: Mapped[int | None] = mapped_column(ForeignKey("kb_articles.id", ondelete="SET NULL"), index=True)
    call_id: Mapped[int | None] = mapped_column(ForeignKey("calls.id", ondelete="SET NULL"), index=True)
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("contacts.id", ondelete="SET NULL"), index=True)
    sender_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), index=True)
    sent_at: Mapped[datetime | None]
