"""App-level wiring of the inbound flow: what this process does when the ACD's offers move.

Services publish facts; this module reacts to the ones that need the app (database session, Redis, settings,
the telephony provider): an offer gets its screen-pop built and pushed before anything rings; once the console
has shown it, the softphone rings; when the offer ends unanswered, the ringing leg is cancelled.
"""

from __future__ import annotations

import logging
import time
from datetime import datetime

from flask import Flask, current_app, has_app_context

from callcenter.extensions import db
from callcenter.redis_conn import get_redis
from callcenter.services import inbound_calls, offers
from callcenter.services.events import DomainEvent, bus
from callcenter.telephony import get_provider
from callcenter.telephony.base import TelephonyError

log = logging.getLogger(__name__)

OFFER_ENDED = {"offer.expired", "offer.cancelled", "offer.unacknowledged", "offer.rejected"}


def on_domain_event(event: DomainEvent) -> None:
    if not has_app_context():
        return
    if event.name == "offer.created":
        # Published after the ACD's commit (possibly from inside that session's after-commit hook): the pop is
        # built in a unit of work of its own, never in (or committing) the transaction that made the offer.
        with db.new_session() as session:
            offers.prepare_offer(
                session, get_redis(), region=current_app.config["DEFAULT_REGION"],
                ack_seconds=current_app.config["OFFER_ACK_SECONDS"], **event.payload,
            )
    elif event.name == "offer.acknowledged":
        _ring(event.payload["agent_id"], event.payload["call_sid"], event.payload.get("from_number"),
              event.payload.get("expires_at"))
    elif event.name in OFFER_ENDED:
        _cancel_ringing(event.payload["call_sid"])


def _ring(agent_id: int, entry_id: str, from_number: str | None, expires_at: str | None) -> None:
    from ivr.inbound import ring_agent

    remaining = datetime.fromisoformat(expires_at).timestamp() - time.time() if expires_at else 15
    try:
        ring_agent(agent_id, entry_id, from_number, remaining)
    except TelephonyError as exc:
        # The reservation timeout re-offers the call; nothing is lost, but say why the phone did not ring.
        log.error("could not ring agent %s for %s: %s", agent_id, entry_id, exc)


def _cancel_ringing(entry_id: str) -> None:
    leg = inbound_calls.ringing_leg(get_redis(), entry_id)
    if leg is None:
        return
    try:
        get_provider().end_call(leg)
    except TelephonyError as exc:
        log.info("ringing leg %s for %s already gone: %s", leg, entry_id, exc)


def init_app(app: Flask) -> None:
    bus.subscribe(on_domain_event)
