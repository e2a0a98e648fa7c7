"""the knowledge base: articles, categories, tags, uses, their full-text index; outbound messages

Revision ID: 0009_knowledge_base
Revises: 0013_integration_webhooks
Create Date: 2026-12-01 22:40:00

The full-text index is backend-specific and made here, not by the models (callcenter.migrate.drift skips it):
- SQLite: an FTS5 table over kb_articles (external content: it stores only the index) kept in step by triggers.
  A later migration that rebuilds kb_articles with batch_alter_table (copy and move) drops those triggers: it
  must create them again (call _create_search()) and rebuild the index.
- PostgreSQL: a stored generated tsvector column, `search_vector` (to_tsvector('simple', ...) of the title, weight
  A, and the search document, weight B), with a GIN index. Stored rather than an expression index: ranking reads
  the vector of every match, and recomputing it per row made a broad query over 5,000 articles take ~1.2 s.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009_knowledge_base"
down_revision: str | None = "0013_integration_webhooks"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SQLITE_SEARCH = (
    "CREATE VIRTUAL TABLE kb_articles_fts USING fts5(title, search_document, content='kb_articles', "
    "content_rowid='id', tokenize='unicode61 remove_diacritics 0')",
    "CREATE TRIGGER kb_articles_fts_insert AFTER INSERT ON kb_articles BEGIN "
    "INSERT INTO kb_articles_fts(rowid, title, search_document) VALUES (new.id, new.title, new.search_document); END",
    "CREATE TRIGGER kb_articles_fts_delete AFTER DELETE ON kb_articles BEGIN "
    "INSERT INTO kb_articles_fts(kb_articles_fts, rowid, title, search_document) "
    "VALUES ('delete', old.id, old.title, old.search_document); END",
    "CREATE TRIGGER kb_articles_fts_update AFTER UPDATE OF title, search_document ON kb_articles BEGIN "
    "INSERT INTO kb_articles_fts(kb_articles_fts, rowid, title, search_document) "
    "VALUES ('delete', old.id, old.title, old.search_document); "
    "INSERT INTO kb_articles_fts(rowid, title, search_document) VALUES (new.id, new.title, new.search_document); END",
)
POSTGRES_SEARCH = (
    "ALTER TABLE kb_articles ADD COLUMN search_vector tsvector GENERATED ALWAYS AS ("
    "setweight(to_tsvector('simple', title), 'A') || setweight(to_tsvector('simple', search_document), 'B')) STORED",
    "CREATE INDEX ix_kb_articles_search ON kb_articles USING gin (search_vector)",
)


def _create_search() -> None:
    dialect = op.get_bind().dialect.name
    for statement in SQLITE_SEARCH if dialect == "sqlite" else POSTGRES_SEARCH if dialect == "postgresql" else ():
        op.execute(statement)


def _drop_search() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        for trigger in ("insert", "delete", "update"):
            op.execute(f"DROP TRIGGER IF EXISTS kb_articles_fts_{trigger}")
        op.execute("DROP TABLE IF EXISTS kb_articles_fts")
    elif dialect == "postgresql":
        op.execute("DROP INDEX IF EXISTS ix_kb_articles_search")
        op.execute("ALTER TABLE kb_articles DROP COLUMN IF EXISTS search_vector")


def upgrade() -> None:
    op.create_table(
        "kb_tags",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=40), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_kb_tags")),
        sa.UniqueConstraint("name", name=op.f("uq_kb_tags_name")),
    )
    op.create_table(
        "kb_categories",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=80), nullable=False),
        sa.Column("queue_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["queue_id"], ["queues.id"], name=op.f("fk_kb_categories_queue_id_queues"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_kb_categories")),
        sa.UniqueConstraint("name", name=op.f("uq_kb_categories_name")),
    )
    with op.batch_alter_table("kb_categories", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_kb_categories_queue_id"), ["queue_id"], unique=False)

    op.create_table(
        "kb_articles",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("problem", sa.Text(), nullable=False),
        sa.Column("solution", sa.Text(), nullable=False),
        sa.Column("category_id", sa.Integer(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("updated_by_id", sa.Integer(), nullable=True),
        sa.Column("usage_count", sa.Integer(), nullable=False),
        sa.Column("search_document", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("status in ('draft', 'published')", name=op.f("ck_kb_articles_status_valid")),
        sa.ForeignKeyConstraint(
            ["category_id"],
            ["kb_categories.id"],
            name=op.f("fk_kb_articles_category_id_kb_categories"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["created_by_id"], ["users.id"], name=op.f("fk_kb_articles_created_by_id_users"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["updated_by_id"], ["users.id"], name=op.f("fk_kb_articles_updated_by_id_users"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_kb_articles")),
    )
    with op.batch_alter_table("kb_articles", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_kb_articles_category_id"), ["category_id"], unique=False)
        batch_op.create_index("ix_kb_articles_status_usage", ["status", "usage_count"], unique=False)

    op.create_table(
        "kb_article_tags",
        sa.Column("article_id", sa.Integer(), nullable=False),
        sa.Column("tag_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["article_id"],
            ["kb_articles.id"],
            name=op.f("fk_kb_article_tags_article_id_kb_articles"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tag_id"], ["kb_tags.id"], name=op.f("fk_kb_article_tags_tag_id_kb_tags"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("article_id", "tag_id", name=op.f("pk_kb_article_tags")),
    )
    with op.batch_alter_table("kb_article_tags", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_kb_article_tags_tag_id"), ["tag_id"], unique=False)

    op.create_table(
        "kb_article_uses",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("article_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("call_id", sa.Integer(), nullable=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("kind in ('viewed', 'sent')", name=op.f("ck_kb_article_uses_kind_valid")),
        sa.ForeignKeyConstraint(
            ["article_id"],
            ["kb_articles.id"],
            name=op.f("fk_kb_article_uses_article_id_kb_articles"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["call_id"], ["calls.id"], name=op.f("fk_kb_article_uses_call_id_calls"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_kb_article_uses_user_id_users"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_kb_article_uses")),
    )
    with op.batch_alter_table("kb_article_uses", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_kb_article_uses_article_id"), ["article_id"], unique=False)

    op.create_table(
        "outbound_messages",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("channel", sa.String(length=8), nullable=False),
        sa.Column("to_address", sa.String(length=254), nullable=False),
        sa.Column("from_address", sa.String(length=254), nullable=False),
        sa.Column("subject", sa.String(length=200), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("provider_sid", sa.String(length=200), nullable=True),
        sa.Column("error", sa.String(length=300), nullable=True),
        sa.Column("article_id", sa.Integer(), nullable=True),
        sa.Column("call_id", sa.Integer(), nullable=True),
        sa.Column("contact_id", sa.Integer(), nullable=True),
        sa.Column("sender_id", sa.Integer(), nullable=True),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("channel in ('sms', 'email')", name=op.f("ck_outbound_messages_channel_valid")),
        sa.CheckConstraint(
            "status in ('queued', 'sending', 'sent', 'failed', 'opted_out')",
            name=op.f("ck_outbound_messages_status_valid"),
        ),
        sa.ForeignKeyConstraint(
            ["article_id"],
            ["kb_articles.id"],
            name=op.f("fk_outbound_messages_article_id_kb_articles"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["call_id"], ["calls.id"], name=op.f("fk_outbound_messages_call_id_calls"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["contact_id"], ["contacts.id"], name=op.f("fk_outbound_messages_contact_id_contacts"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["sender_id"], ["users.id"], name=op.f("fk_outbound_messages_sender_id_users"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbound_messages")),
    )
    with op.batch_alter_table("outbound_messages", schema=None) as batch_op:
        batch_op.create_index("ix_outbound_messages_address", ["channel", "to_address"], unique=False)
        batch_op.create_index(batch_op.f("ix_outbound_messages_article_id"), ["article_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_outbound_messages_call_id"), ["call_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_outbound_messages_contact_id"), ["contact_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_outbound_messages_provider_sid"), ["provider_sid"], unique=False)
        batch_op.create_index(batch_op.f("ix_outbound_messages_sender_id"), ["sender_id"], unique=False)

    _create_search()


def downgrade() -> None:
    _drop_search()
    with op.batch_alter_table("outbound_messages", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_outbound_messages_sender_id"))
        batch_op.drop_index(batch_op.f("ix_outbound_messages_provider_sid"))
        batch_op.drop_index(batch_op.f("ix_outbound_messages_contact_id"))
        batch_op.drop_index(batch_op.f("ix_outbound_messages_call_id"))
        batch_op.drop_index(batch_op.f("ix_outbound_messages_article_id"))
        batch_op.drop_index("ix_outbound_messages_address")

    op.drop_table("outbound_messages")
    with op.batch_alter_table("kb_article_uses", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_kb_article_uses_article_id"))

    op.drop_table("kb_article_uses")
    with op.batch_alter_table("kb_article_tags", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_kb_article_tags_tag_id"))

    op.drop_table("kb_article_tags")
    with op.batch_alter_table("kb_articles", schema=None) as batch_op:
        batch_op.drop_index("ix_kb_articles_status_usage")
        batch_op.drop_index(batch_op.f("ix_kb_articles_category_id"))

    op.drop_table("kb_articles")
    with op.batch_alter_table("kb_categories", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_kb_categories_queue_id"))

    op.drop_table("kb_categories")
    op.drop_table("kb_tags")
