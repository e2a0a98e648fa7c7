"""Fixtures shared by the webhook tests."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
import sqlalchemy as sa


@pytest.fixture
def rows(database_url) -> Iterator[Callable[[], tuple[int, int]]]:
    """Counts rows in calls and call_events through a connection of its own (a refused webhook writes none)."""
    engine = sa.create_engine(database_url)

    def count() -> tuple[int, int]:
        with engine.connect() as connection:
            return (connection.scalar(sa.text("SELECT count(*) FROM calls")),
                    connection.scalar(sa.text("SELECT count(*) FROM call_events")))

    yield count
    engine.dispose()
