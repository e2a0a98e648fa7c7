"""What SQL the product's webhooks run: for tests that hold a webhook to the statements its answer needs."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import event

from callcenter import jobs
from callcenter.extensions import db


def webhook_statements(action: Callable[[], Any], monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The statements run during `action`, without those of the jobs the webhooks defer (the suite runs them
    inline, in the webhook's thread, where a worker would run them in its own process)."""
    seen: list[str] = []
    in_job = threading.local()
    run_inline = jobs.run_inline

    def run_job(item: jobs.Deferred) -> None:
        in_job.active = True
        try:
            run_inline(item)
        finally:
            in_job.active = False

    def record(_conn, _cursor, statement: str, *_args: Any) -> None:
        if not getattr(in_job, "active", False):
            seen.append(statement)

    monkeypatch.setattr(jobs, "run_inline", run_job)
    event.listen(db.engine, "before_cursor_execute", record)
    try:
        action()
    finally:
        event.remove(db.engine, "before_cursor_execute", record)
    return seen
