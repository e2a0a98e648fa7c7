"""Work a transaction leaves for after its commit, run once the session has given its connection back.

Jobs to enqueue and domain events to publish are collected while a transaction works and handed on only when it
commits (dropped on rollback). They are handed on after the session's connection is back in the pool, not in
SQLAlchemy's `after_commit` hook, which runs while the connection is still checked out: an event handler that
opens a unit of work of its own (the screen-pop does) would otherwise hold two connections at once, and a few
dozen concurrent webhooks doing that exhaust the pool and wait on each other until its timeout.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import Any

from sqlalchemy import event as sa_event
from sqlalchemy.orm import Session, SessionTransaction

Runner = Callable[[Session, list[Any]], None]

_runners: dict[str, Runner] = {}  # in registration order: jobs are registered before events
_PENDING = "callcenter.after_commit.pending"
_COMMITTED = "callcenter.after_commit.committed"


def register(bucket: str, runner: Runner) -> None:
    """`runner(session, items)` receives a bucket's items once a transaction that added some has committed."""
    _runners[bucket] = runner


def add(session: Session, bucket: str, key: Hashable, item: Any) -> None:
    """Keep `item` for after the commit; the same key twice in one transaction keeps the last item."""
    session.info.setdefault(_PENDING, {}).setdefault(bucket, {})[key] = item


def pending(session: Session, bucket: str) -> list[Any]:
    """The bucket's items still waiting for this session's commit."""
    return list(session.info.get(_PENDING, {}).get(bucket, {}).values())


@sa_event.listens_for(Session, "after_commit")
def _committed(session: Session) -> None:
    if session.get_nested_transaction() is not None:
        return  # a savepoint: its work is handed on when the outer transaction commits
    pending_items = session.info.pop(_PENDING, None)
    if pending_items:
        session.info[_COMMITTED] = pending_items


@sa_event.listens_for(Session, "after_transaction_end")
def _hand_on(session: Session, transaction: SessionTransaction) -> None:
    if transaction.parent is not None:
        return
    committed = session.info.pop(_COMMITTED, None)
    if not committed:
        return
    for bucket, runner in list(_runners.items()):
        items = committed.get(bucket)
        if items:
            runner(session, list(items.values()))


@sa_event.listens_for(Session, "after_rollback")
def _drop(session: Session) -> None:
    if session.get_nested_transaction() is None:
        session.info.pop(_PENDING, None)
        session.info.pop(_COMMITTED, None)
