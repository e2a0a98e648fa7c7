"""Signed outbound webhooks: other systems hear about calls, tickets, callbacks and contacts as they happen.

A service that changes something a subscriber may want calls `notify` inside its transaction. Once it commits, a
job (`workers.webhooks.fan_out`) makes one delivery per subscription that wants the event, and one job per delivery
(`workers.webhooks.deliver`) POSTs it, retried with backoff by RQ until the receiver answers 2xx. Every attempt's
response code is kept on the delivery (the delivery log). No subscriber for an event: `notify` costs a lookup in
process memory and nothing else.

Each POST is signed (docs/webhooks.md): `X-Callcenter-Signature: t=<unix time>,v1=<hex HMAC-SHA256 of
"<t>.<body>" under the subscription's secret>`, so a receiver can check both who sent it and that it is fresh.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import uuid
from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import event as sa_event
from sqlalchemy import inspect as sa_inspect
from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from callcenter.models import Call, Callback, Contact, Ticket, User, WebhookDelivery, WebhookSubscription, utcnow
from callcenter.services import audit, config_cache
from callcenter.services.errors import Forbidden, NotFound, ValidationFailed
from callcenter.services.jobs import defer
from callcenter.services.messages import t

EVENTS = ("call.completed", "ticket.created", "ticket.changed", "callback.booked", "callback.done",
          "contact.changed")
SIGNATURE_HEADER = "X-Callcenter-Signature"
EVENT_HEADER = "X-Callcenter-Event"
DELIVERY_HEADER = "X-Callcenter-Delivery"
SIGNATURE_TOLERANCE_SECONDS = 300
FAN_OUT_JOB = "workers.webhooks.fan_out"
DELIVER_JOB = "workers.webhooks.deliver"
SUBSCRIPTIONS = "webhook_subscriptions"  # config_cache namespace
TERMINAL_CALL_STATUSES = ("completed", "busy", "no-answer", "failed", "canceled")  # as services.calls

config_cache.watch(WebhookSubscription, SUBSCRIPTIONS)


# --- Signing ----------------------------------------------------------------------------------------------------


def signature(secret: str, timestamp: int, body: str) -> str:
    """Hex HMAC-SHA256 of `"<timestamp>.<body>"` (the body exactly as sent, UTF-8) under `secret`."""
    message = f"{timestamp}.{body}".encode()
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def signature_header(secret: str, timestamp: int, body: str) -> str:
    return f"t={timestamp},v1={signature(secret, timestamp, body)}"


def verify(secret: str, header: str, body: str, now: float, tolerance: int = SIGNATURE_TOLERANCE_SECONDS) -> bool:
    """What a receiver does with a delivery: the signature matches and its time is within `tolerance` seconds."""
    parts = dict(part.split("=", 1) for part in header.split(",") if "=" in part)
    try:
        timestamp = int(parts.get("t", ""))
    except ValueError:
        return False
    if abs(now - timestamp) > tolerance:
        return False
    return hmac.compare_digest(signature(secret, timestamp, body), parts.get("v1", ""))


# --- Subscriptions ------------------------------------------------------------------------------------------------


def check_admin(actor: User) -> None:
    if actor.role != "admin":
        raise Forbidden(t("Admins only"))


def subscriptions(session: Session, actor: User) -> list[WebhookSubscription]:
    check_admin(actor)
    return list(session.scalars(select(WebhookSubscription).order_by(WebhookSubscription.id)))


def _check_url(url: str) -> str:
    url = (url or "").strip()
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc or len(url) > 500:
        raise ValidationFailed(t("The URL must be an http:// or https:// address"), field="url")
    return url


def _check_events(events: Iterable[str]) -> list[str]:
    chosen = list(dict.fromkeys(events))
    unknown = [e for e in chosen if e not in EVENTS]
    if unknown or not chosen:
        raise ValidationFailed(t("Events are some of %(value)s", value=", ".join(EVENTS)), field="events")
    return chosen


def create_subscription(session: Session, actor: User, *, url: str, events: Iterable[str],
                        description: str = "") -> WebhookSubscription:
    """A new subscription with a fresh secret (shown to the admin; the receiver keeps it to check signatures)."""
    check_admin(actor)
    subscription = WebhookSubscription(url=_check_url(url), events=_check_events(events),
                                       description=description[:200], secret=secrets.token_hex(32),
                                       created_by_id=actor.id, active=True)
    session.add(subscription)
    session.flush()
    audit.record(session, "webhook.subscribed", actor_id=actor.id, entity=subscription, url=subscription.url,
                 events=subscription.events)
    session.commit()
    return subscription


def get_subscription(session: Session, actor: User, subscription_id: int) -> WebhookSubscription:
    check_admin(actor)
    subscription = session.get(WebhookSubscription, subscription_id)
    if subscription is None:
        raise NotFound(t("Webhook subscription %(id)s not found", id=subscription_id), field="subscription_id")
    return subscription


def update_subscription(session: Session, actor: User, subscription_id: int, values: dict[str, Any]
                        ) -> WebhookSubscription:
    subscription = get_subscription(session, actor, subscription_id)
    before = {"url": subscription.url, "events": list(subscription.events), "active": subscription.active}
    if "url" in values:
        subscription.url = _check_url(values["url"])
    if "events" in values:
        subscription.events = _check_events(values["events"])
    if "active" in values:
        subscription.active = bool(values["active"])
    if "description" in values:
        subscription.description = str(values["description"])[:200]
    audit.record(session, "webhook.changed", actor_id=actor.id, entity=subscription, before=before,
                 after={"url": subscription.url, "events": subscription.events, "active": subscription.active})
    session.commit()
    return subscription


def delete_subscription(session: Session, actor: User, subscription_id: int) -> None:
    subscription = get_subscription(session, actor, subscription_id)
    audit.record(session, "webhook.deleted", actor_id=actor.id, entity=subscription, url=subscription.url)
    session.delete(subscription)
    session.commit()


def deliveries(session: Session, actor: User, subscription_id: int, limit: int = 100) -> list[WebhookDelivery]:
    """The delivery log of a subscription, newest first."""
    get_subscription(session, actor, subscription_id)
    return list(session.scalars(select(WebhookDelivery).where(WebhookDelivery.subscription_id == subscription_id)
                                .order_by(WebhookDelivery.id.desc()).limit(limit)))


# --- Events -------------------------------------------------------------------------------------------------------


def subscribed_events(session: Session) -> frozenset[str]:
    """The events some active subscription wants (process memory; dropped everywhere when one changes)."""

    def load() -> frozenset[str]:
        rows = session.scalars(select(WebhookSubscription.events).where(WebhookSubscription.active.is_(True)))
        return frozenset(event for events in rows for event in events)

    return config_cache.cache.get(SUBSCRIPTIONS, "events", load)


def notify(session: Session, event: str, key: str | int, data: dict[str, Any], *, once: bool = True,
           occurred_at: datetime | None = None) -> None:
    """Tell the subscribers of `event` about record `key` once this transaction commits (nothing on rollback).

    With `once`, the event about that record is delivered once ever however often it is noticed (a call completes
    once); otherwise once per transaction (a contact changes many times)."""
    if event not in subscribed_events(session):
        return
    body = {"event": event, "occurred_at": (occurred_at or utcnow()).isoformat(), "data": data}
    dedup = str(key) if once else f"{key}-{session.info.setdefault(_TRANSACTION_TOKEN, uuid.uuid4().hex[:16])}"
    defer(session, FAN_OUT_JOB, event, dedup, json.dumps(body, sort_keys=True, default=str),
          key=f"webhook-{event.replace('.', '_')}-{dedup}")  # also the RQ job id: letters, digits, - and _


# --- What is noticed: every path that writes these rows, without each having to remember ------------------------

_TRANSACTION_TOKEN = "callcenter.webhooks.transaction"
_CALLBACK_DONE = ("completed", "failed", "cancelled")


def _row(instance: Any) -> dict[str, Any]:
    """The record's columns as sent to subscribers."""
    return {attr.key: getattr(instance, attr.key) for attr in sa_inspect(type(instance)).column_attrs}


def _became(instance: Any, name: str, values: Iterable[str]) -> bool:
    """Whether this flush changed `name` to one of `values` from something else."""
    history = sa_inspect(instance).attrs[name].history
    return bool(history.added) and history.added[0] in values and not (
        history.deleted and history.deleted[0] in values)


def _noticed(session: Session) -> Iterator[tuple[str, Any, bool]]:
    for instance in session.new:
        if isinstance(instance, Ticket):
            yield "ticket.created", instance, True
        elif isinstance(instance, Callback):
            yield "callback.booked", instance, True
        elif isinstance(instance, Contact):
            yield "contact.changed", instance, False
        elif isinstance(instance, Call) and instance.status in TERMINAL_CALL_STATUSES:
            yield "call.completed", instance, True
    for instance in session.dirty:
        if isinstance(instance, Call):
            if _became(instance, "status", TERMINAL_CALL_STATUSES):
                yield "call.completed", instance, True
        elif isinstance(instance, (Ticket, Contact)) and session.is_modified(instance):
            yield ("ticket.changed" if isinstance(instance, Ticket) else "contact.changed"), instance, False
        elif isinstance(instance, Callback) and _became(instance, "status", _CALLBACK_DONE):
            yield "callback.done", instance, True


@sa_event.listens_for(Session, "after_flush")
def _notice_changes(session: Session, _context: Any) -> None:
    for event, instance, once in _noticed(session):
        key = instance.call_sid if isinstance(instance, Call) else instance.id
        notify(session, event, key, _row(instance), once=once)


@sa_event.listens_for(Session, "after_commit")
@sa_event.listens_for(Session, "after_rollback")
def _new_transaction(session: Session) -> None:
    session.info.pop(_TRANSACTION_TOKEN, None)


def fan_out(session: Session, event: str, key: str, body: str, retry_intervals: tuple[int, ...]) -> list[int]:
    """One delivery per active subscription wanting `event` (none twice for the same record); each delivery's job
    is enqueued when this commits, retried after each of `retry_intervals` seconds. Returns the new ids."""
    wanting = [s for s in session.scalars(select(WebhookSubscription).where(WebhookSubscription.active.is_(True)))
               if event in s.events]
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    created = []
    for subscription in wanting:
        statement = insert(WebhookDelivery).values(
            subscription_id=subscription.id, event=event, dedup_key=f"{event}:{key}"[:120], body=body,
            status="pending", attempts=[], created_at=utcnow(),
        ).on_conflict_do_nothing(index_elements=["subscription_id", "dedup_key"]).returning(WebhookDelivery.id)
        delivery_id = session.execute(statement).scalar()
        if delivery_id is not None:
            created.append(delivery_id)
            defer(session, DELIVER_JOB, delivery_id, key=f"webhook-delivery-{delivery_id}",
                  retry_intervals=retry_intervals)
    session.commit()
    return created


def request_for(delivery: WebhookDelivery, now: float) -> tuple[str, dict[str, str]]:
    """The body and headers of one attempt: the stored body, signed with this attempt's time."""
    timestamp = int(now)
    return delivery.body, {
        "Content-Type": "application/json",
        "User-Agent": "callcenter-webhooks/1",
        EVENT_HEADER: delivery.event,
        DELIVERY_HEADER: str(delivery.id),
        SIGNATURE_HEADER: signature_header(delivery.subscription.secret, timestamp, delivery.body),
    }


def record_attempt(session: Session, delivery: WebhookDelivery, *, status_code: int | None, error: str | None,
                   at: datetime, final: bool) -> bool:
    """Log one attempt; a 2xx delivers it, a failure on the `final` try marks it failed. True when delivered."""
    delivered = status_code is not None and 200 <= status_code < 300
    delivery.attempts = [*delivery.attempts, {"at": at.isoformat(), "status_code": status_code,
                                              "error": (error or "")[:300] or None}]
    if delivered:
        delivery.status, delivery.delivered_at = "delivered", at
    elif final:
        delivery.status = "failed"
    session.commit()
    return delivered
