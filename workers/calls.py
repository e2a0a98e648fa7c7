"""Call record jobs: deriving a call from its event log, off the webhook's path."""

from __future__ import annotations

from callcenter.services import calls
from workers.jobs import job_session


def derive_calls(*call_ids: int) -> None:
    """Re-derive calls' status and phase times from all their events (idempotent: a second run changes nothing)."""
    with job_session() as session:
        calls.derive_calls(session, call_ids)
