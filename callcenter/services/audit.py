"""Append to the audit log inside the caller's transaction, and read it back within the reader's scope."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, func, select, true
from sqlalchemy.orm import Session

from callcenter.models import AuditEntry, Role, User
from callcenter.services import scope
from callcenter.services.errors import Forbidden
from callcenter.services.messages import t


def record(
    session: Session,
    action: str,
    *,
    actor_id: int | None,
    entity: Any = None,
    ip_address: str | None = None,
    **details: Any,
) -> AuditEntry:
    """Add an audit entry for `action` on `entity` (a model instance with an id), committed with the caller."""
    entry = AuditEntry(
        action=action,
        actor_id=actor_id,
        entity_type=type(entity).__name__ if entity is not None else None,
        entity_id=str(entity.id) if entity is not None else None,
        ip_address=ip_address,
        details=details,
    )
    session.add(entry)
    return entry


@dataclass(frozen=True)
class AuditFilter:
    """What the audit viewer asks for; every field optional. `until` is exclusive."""

    action: str | None = None
    actor_id: int | None = None
    entity_type: str | None = None
    entity_id: str | None = None
    since: datetime | None = None
    until: datetime | None = None


def visible(viewer: User) -> ColumnElement[bool]:
    """Admins read the whole log; a supervisor what their team's people did; agents nothing."""
    if viewer.role == Role.ADMIN.value:
        return true()
    if viewer.role != Role.SUPERVISOR.value or not viewer.active:
        raise Forbidden(t("Supervisors and admins only"))
    return AuditEntry.actor_id.in_(select(User.id).where(scope.users(viewer)))


def search(session: Session, viewer: User, wanted: AuditFilter, *, page: int = 1,
           per_page: int = 100) -> tuple[list[tuple[AuditEntry, str | None]], int]:
    """Entries matching `wanted` within the viewer's scope, newest first, with the actor's username; and the
    total count."""
    conditions = [visible(viewer)]
    if wanted.action:
        conditions.append(AuditEntry.action.startswith(wanted.action, autoescape=True))
    if wanted.actor_id is not None:
        conditions.append(AuditEntry.actor_id == wanted.actor_id)
    if wanted.entity_type:
        conditions.append(AuditEntry.entity_type == wanted.entity_type)
    if wanted.entity_id:
        conditions.append(AuditEntry.entity_id == wanted.entity_id)
    if wanted.since is not None:
        conditions.append(AuditEntry.occurred_at >= wanted.since)
    if wanted.until is not None:
        conditions.append(AuditEntry.occurred_at < wanted.until)
    total = session.scalar(select(func.count()).select_from(AuditEntry).where(*conditions)) or 0
    rows = session.execute(
        select(AuditEntry, User.username).outerjoin(User, User.id == AuditEntry.actor_id).where(*conditions)
        .order_by(AuditEntry.occurred_at.desc(), AuditEntry.id.desc())
        .limit(per_page).offset((max(page, 1) - 1) * per_page)
    ).all()
    return [(entry, username) for entry, username in rows], total
