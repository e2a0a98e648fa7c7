"""What this process does when the ACD's offers move: the app's reactions to offer events.

Services publish facts; this module reacts to the ones that need the app (database session, Redis, settings,
the telephony provider): an offer gets its screen-pop built and pushed before anything rings (offer.created);
once the console has shown it, the softphone rings (offer.acknowledged); when the offer ends unanswered, the
ringing leg is cancelled. The carrier steps themselves are services.agent_legs.
"""

from __future__ import annotations

import logging
import time
from datetime import datetime

from flask import Flask, current_app, has_app_context

from callcenter.background import beside_the_request
from callcenter.db import asynchronous_commit
from callcenter.extensions import db
from callcenter.redis_conn import get_redis
from callcenter.services import agent_legs, offers
from callcenter.services.events import DomainEvent, bus
from callcenter.telephony import get_provider, links
from callcenter.telephony.base import TelephonyError

log = logging.getLogger(__name__)

OFFER_ENDED = {"offer.expired", "offer.cancelled", "offer.unacknowledged", "offer.rejected"}
DEFAULT_RING_SECONDS = 15  # an acknowledged offer that says nothing of its deadline


def on_domain_event(event: DomainEvent) -> None:
    """React to an offer event (other events, and events outside an app context, are ignored)."""
    if not has_app_context():
        return
    if event.name == "offer.created":
        # The webhook that made the offer answers its TwiML without waiting for the pop to be built and pushed.
        # A pop that never goes out (the process died meanwhile) is not lost: the reservation times out and the
        # ticker offers the call again.
        beside_the_request(_prepare_offer, event.payload, what=f"the offer of {event.payload.get('call_sid')}")
    elif event.name == "offer.acknowledged":
        _ring(event.payload["agent_id"], event.payload["call_sid"], event.payload.get("from_number"),
              event.payload.get("expires_at"))
    elif event.name in OFFER_ENDED:
        agent_legs.cancel_ringing(get_redis(), get_provider(), event.payload["call_sid"])


def _prepare_offer(payload: dict) -> None:
    """Published after the ACD's commit (possibly from inside that session's after-commit hook): the pop is built
    in a unit of work of its own, never in (or committing) the transaction that made the offer. It is the
    webhook's work, done after its answer: its commit does not wait for the disk either."""
    with asynchronous_commit(not current_app.config["WEBHOOK_SYNCHRONOUS_COMMIT"]), db.new_session() as session:
        offers.prepare_offer(
            session, get_redis(), region=current_app.config["DEFAULT_REGION"],
            ack_seconds=current_app.config["OFFER_ACK_SECONDS"], **payload,
        )


def _ring(agent_id: int, entry_id: str, from_number: str | None, expires_at: str | None) -> None:
    remaining = (datetime.fromisoformat(expires_at).timestamp() - time.time() if expires_at
                 else DEFAULT_RING_SECONDS)
    try:
        agent_legs.ring_agent(get_redis(), get_provider(), agent_id=agent_id, entry_id=entry_id,
                              from_number=from_number, timeout_seconds=remaining, caller_id=links.caller_id(),
                              webhook_url=links.webhook_url)
    except TelephonyError as exc:
        # The reservation timeout re-offers the call; nothing is lost, but say why the phone did not ring.
        log.error("could not ring agent %s for %s: %s", agent_id, entry_id, exc)


def init_app(app: Flask) -> None:
    """Subscribe to the domain events this process publishes."""
    bus.subscribe(on_domain_event)
