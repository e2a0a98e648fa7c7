"""Migration 0009 (knowledge base) goes down and up again on both backends, its search index with it."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import command

from callcenter import migrate
from callcenter.db import make_engine


def _tables(engine) -> set[str]:
    return set(sa.inspect(engine).get_table_names())


def test_knowledge_base_migration_downgrades_and_upgrades_with_its_search_index(database_url):
    engine = make_engine(database_url)
    config = migrate.alembic_config(database_url)
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "0007_dialing_gate")
    assert not {t for t in _tables(engine) if t.startswith(("kb_", "outbound_"))}

    migrate.upgrade(engine)

    assert migrate.drift(engine) == []
    with engine.begin() as connection:
        connection.execute(sa.text(
            "INSERT INTO kb_articles (title, problem, solution, status, usage_count, search_document, created_at, "
            "updated_at) VALUES ('Router keeps rebooting', '', '', 'published', 0, 'firmware update', "
            "CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"))
    with engine.connect() as connection:
        if engine.dialect.name == "sqlite":
            found = connection.execute(sa.text(
                "SELECT rowid FROM kb_articles_fts WHERE kb_articles_fts MATCH 'firmware'")).scalars().all()
            indexes = []
        else:
            found = connection.execute(sa.text(
                "SELECT id FROM kb_articles WHERE search_vector @@ to_tsquery('simple', 'firmware')")).scalars().all()
            indexes = connection.execute(sa.text(
                "SELECT indexname FROM pg_indexes WHERE tablename = 'kb_articles'")).scalars().all()
    assert len(found) == 1
    assert engine.dialect.name == "sqlite" or "ix_kb_articles_search" in indexes
    engine.dispose()
