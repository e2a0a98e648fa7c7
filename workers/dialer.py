"""The dialer's pass: every second (enqueued by the ticker), each running progressive or predictive campaign
places the calls its pacing asks for. Thin: settings and carrier from the app, the work in services.dialer."""

from __future__ import annotations

import logging

from flask import current_app

from callcenter.jobs import claim
from callcenter.models.base import utcnow
from callcenter.redis_conn import get_redis
from callcenter.services import dialer
from callcenter.services.dialing_gate import DialRules
from callcenter.telephony import get_provider, links
from workers.jobs import job_session

log = logging.getLogger(__name__)

PASS_KEY = "dialer-pass"  # the coalesced job's key: one pass waits in the queue at most
RUNNING_KEY = "cc:dialer:running"  # held while a pass runs: two passes never overlap
RUNNING_TTL_SECONDS = 30  # a pass killed mid-way frees the dialer after this long


def settings_from_app() -> dialer.DialSettings:
    config = current_app.config
    return dialer.DialSettings(caller_id=links.caller_id(), calls_per_second=config["DIAL_CALLS_PER_SECOND"],
                               ring_timeout_seconds=config["DIAL_RING_TIMEOUT_SECONDS"],
                               rules=DialRules.from_config(config), join_twiml=links.join_twiml)


def dial_running_campaigns() -> list[dialer.DialRun]:
    """One pass over the running automatic campaigns (idempotent: what is in flight is counted, the CPS budget
    is shared); skipped while another pass still runs."""
    r = get_redis()
    claim(r, PASS_KEY)
    if not r.set(RUNNING_KEY, "1", nx=True, ex=RUNNING_TTL_SECONDS):
        return []
    runs = []
    try:
        settings = settings_from_app()
        provider = get_provider()
        with job_session() as session:
            for campaign in dialer.running_auto_campaigns(session):
                try:
                    runs.append(dialer.dial_campaign(session, r, provider, campaign, utcnow(), links.webhook_url,
                                                     settings))
                except Exception:  # one campaign's trouble must not stop the others
                    session.rollback()
                    log.exception("dialer pass failed for campaign %s", campaign.id)
    finally:
        r.delete(RUNNING_KEY)
    return runs
