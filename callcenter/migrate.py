"""Schema management through Alembic, callable from the CLI, `callcenter run` and tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine

from callcenter.models import Base
from callcenter.models.knowledge import POSTGRES_SEARCH_COLUMN, POSTGRES_SEARCH_INDEX, SQLITE_FTS_TABLE

MIGRATIONS_DIR = Path(__file__).parent / "models" / "migrations"


def alembic_config(database_url: str) -> Config:
    """An Alembic config pointing at our migrations folder; no alembic.ini needed."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return config


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Bring the database at `engine` to `revision` (creates the schema from empty)."""
    config = alembic_config(engine.url.render_as_string(hide_password=False))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def scripts() -> ScriptDirectory:
    """Our migration scripts (the revisions this version of the code knows)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return ScriptDirectory.from_config(config)


def head_revision() -> str | None:
    """The revision `upgrade` brings a database to."""
    return scripts().get_current_head()


def include_name(name: str | None, type_: str, parent_names: Any) -> bool:
    """Leave out of schema comparisons the backend-specific search structures migrations make and models do not
    describe: the knowledge base's FTS5 table (and its shadow tables) on SQLite, its tsvector column and GIN index
    on PostgreSQL."""
    if type_ == "table" and name and name.startswith(SQLITE_FTS_TABLE):
        return False
    if type_ == "column" and name == POSTGRES_SEARCH_COLUMN and parent_names.get("table_name") == "kb_articles":
        return False
    return not (type_ == "index" and name == POSTGRES_SEARCH_INDEX)


def drift(engine: Engine) -> list[Any]:
    """Differences between the models and the migrated database; empty means no drift."""
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True, "include_name": include_name})
        return compare_metadata(context, Base.metadata)
