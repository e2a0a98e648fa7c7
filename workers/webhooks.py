"""Webhook jobs: fanning an event out to its subscribers, and delivering each one (retried by RQ with backoff)."""

from __future__ import annotations

import logging
import time

import requests
from flask import current_app
from rq import get_current_job

from callcenter.models import WebhookDelivery, utcnow
from callcenter.services import webhooks
from workers.jobs import job_session

log = logging.getLogger(__name__)


class DeliveryRefused(Exception):
    """The receiver did not accept the delivery: raising makes RQ retry it on the subscription's schedule."""


def fan_out(event: str, key: str, body: str) -> None:
    with job_session() as session:
        webhooks.fan_out(session, event, key, body, tuple(current_app.config["WEBHOOK_RETRY_SECONDS"]))


def _final_try() -> bool:
    """No retry left for this job (or not running under RQ, e.g. inline): a failure now is the last word."""
    job = get_current_job()
    return job is None or not job.retries_left


def deliver(delivery_id: int) -> None:
    """POST one delivery, signed with this attempt's time; a 2xx delivers it, anything else is retried.

    Idempotent: a delivery already delivered (a job run twice) is not sent again."""
    with job_session() as session:
        delivery = session.get(WebhookDelivery, delivery_id)
        if delivery is None or delivery.status != "pending" or not delivery.subscription.active:
            return
        body, headers = webhooks.request_for(delivery, time.time())
        status_code, error = None, None
        try:
            response = requests.post(delivery.subscription.url, data=body.encode(), headers=headers,
                                     timeout=current_app.config["WEBHOOK_TIMEOUT_SECONDS"], allow_redirects=False)
            status_code = response.status_code
            if not 200 <= status_code < 300:
                error = response.text[:300]
        except requests.RequestException as exc:
            error = f"{type(exc).__name__}: {exc}"
        delivered = webhooks.record_attempt(session, delivery, status_code=status_code, error=error, at=utcnow(),
                                            final=_final_try())
    if not delivered:
        raise DeliveryRefused(f"delivery {delivery_id}: {status_code or error}")
