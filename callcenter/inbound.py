"""App-level wiring of the inbound flow: what happens in this process when the ACD makes an offer.

Services publish facts; this module reacts to the ones that need the app (database session, Redis, settings):
an offer gets its screen-pop built and pushed before anything rings.
"""

from __future__ import annotations

import logging

from flask import Flask, current_app, has_app_context

from callcenter.extensions import db
from callcenter.redis_conn import get_redis
from callcenter.services import offers
from callcenter.services.events import DomainEvent, bus

log = logging.getLogger(__name__)


def on_domain_event(event: DomainEvent) -> None:
    if event.name != "offer.created" or not has_app_context():
        return
    app = current_app
    offers.prepare_offer(
        db.session,
        get_redis(),
        region=app.config["DEFAULT_REGION"],
        ack_seconds=app.config["OFFER_ACK_SECONDS"],
        **event.payload,
    )


def init_app(app: Flask) -> None:
    bus.subscribe(on_domain_event)
