"""Callback jobs: dialling the customer of a callback an agent answered."""

from __future__ import annotations

from callcenter.redis_conn import get_redis
from callcenter.services import callbacks
from callcenter.telephony import get_provider, links
from workers.jobs import job_session


def dial_callback(attempt_id: int) -> None:
    """Dial a callback attempt's customer into the agent's conference. Idempotent: the attempt's claim is committed
    before the carrier is asked, so a re-run (retry, worker killed mid-dial) never calls the customer again."""
    with job_session() as session:
        callbacks.dial(session, get_redis(), get_provider(), attempt_id, caller_id=links.caller_id(),
                       webhook_url=links.webhook_url)
