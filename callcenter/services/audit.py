"""Append to the audit log inside the caller's transaction."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from callcenter.models import AuditEntry


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
