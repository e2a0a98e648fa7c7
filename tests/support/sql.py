"""What SQL the product's webhooks run, and in how many round trips: for tests that hold a webhook to what its
answer needs."""

from __future__ import annotations

import tempfile
import threading
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import Engine, event

from callcenter import jobs
from callcenter.extensions import db


def _outside_jobs(monkeypatch: pytest.MonkeyPatch) -> Callable[[], bool]:
    """Whether the code running now is not one of the jobs the webhooks defer (the suite runs them inline, in the
    webhook's thread, where a worker would run them in its own process)."""
    in_job = threading.local()
    run_inline = jobs.run_inline

    def run_job(item: jobs.Deferred) -> None:
        in_job.active = True
        try:
            run_inline(item)
        finally:
            in_job.active = False

    monkeypatch.setattr(jobs, "run_inline", run_job)
    return lambda: not getattr(in_job, "active", False)


def webhook_statements(action: Callable[[], Any], monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The statements run during `action`, without those of the jobs the webhooks defer."""
    seen: list[str] = []
    outside_jobs = _outside_jobs(monkeypatch)

    def record(_conn, _cursor, statement: str, *_args: Any) -> None:
        if outside_jobs():
            seen.append(statement)

    event.listen(db.engine, "before_cursor_execute", record)
    try:
        action()
    finally:
        event.remove(db.engine, "before_cursor_execute", record)
    return seen


def webhook_round_trips(action: Callable[[], Any], monkeypatch: pytest.MonkeyPatch) -> int:
    """The round trips to PostgreSQL made during `action`, without those of the jobs the webhooks defer."""
    with RoundTrips(db.engine, counted=_outside_jobs(monkeypatch)) as trips:
        action()
    return trips.count


class RoundTrips:
    """Counts the round trips to PostgreSQL made on `engine`'s connections while it is open: the ReadyForQuery
    messages libpq's protocol trace shows the server sending, one at the end of each message it answered."""

    def __init__(self, engine: Engine, counted: Callable[[], bool] = lambda: True) -> None:
        self.engine = engine
        self.counted = counted  # asked at each checkout: whether that use of a connection counts
        self.count = 0
        self._traces: dict[int, Any] = {}

    def __enter__(self) -> RoundTrips:
        event.listen(self.engine.pool, "checkout", self._trace)
        event.listen(self.engine.pool, "checkin", self._untrace)
        return self

    def __exit__(self, *_exc: object) -> None:
        event.remove(self.engine.pool, "checkout", self._trace)
        event.remove(self.engine.pool, "checkin", self._untrace)
        for key in list(self._traces):
            self._finish(key)

    def _trace(self, dbapi_connection, _record, _proxy) -> None:
        if not self.counted():
            return
        trace = tempfile.TemporaryFile()  # noqa: SIM115 (closed in _finish, at checkin or at the end)
        dbapi_connection.pgconn.trace(trace.fileno())
        self._traces[id(dbapi_connection)] = (dbapi_connection, trace)

    def _untrace(self, dbapi_connection, _record) -> None:
        if id(dbapi_connection) in self._traces:
            self._finish(id(dbapi_connection))

    def _finish(self, key: int) -> None:
        dbapi_connection, trace = self._traces.pop(key)
        dbapi_connection.pgconn.untrace()
        trace.seek(0)
        self.count += sum(1 for line in trace.read().decode("utf-8", "replace").splitlines()
                          if line.split("\t")[1:2] == ["B"] and "\tReadyForQuery" in line)
        trace.close()
