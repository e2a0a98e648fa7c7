"""Signed outbound webhooks on real RQ: a receiver that fails twice gets the delivery on the third try and checks
its signature with the documented algorithm; every attempt is in the delivery log; an event is delivered once."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from collections.abc import Iterator

import pytest
from rq import Queue, SimpleWorker
from rq.registry import FailedJobRegistry
from sqlalchemy import select
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from callcenter.models import Call, WebhookDelivery
from callcenter.redis_conn import get_redis
from callcenter.services import webhooks
from tests.support.servers import free_port


@pytest.fixture
def app_config(app_config):
    # No pause between retries, so a burst worker sees every try; production backs off (WEBHOOK_RETRY_SECONDS).
    return {**app_config, "JOBS_INLINE": False, "WEBHOOK_RETRY_SECONDS": (0, 0, 0), "WEBHOOK_TIMEOUT_SECONDS": 5}


class Receiver:
    """Another system's endpoint: answers the given status codes in turn (then 200) and keeps every request."""

    def __init__(self, answers: list[int]) -> None:
        self.answers = list(answers)
        self.requests: list[tuple[dict[str, str], str]] = []
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/hooks/callcenter"
        self._server = make_server("127.0.0.1", self.port, self._app, threaded=True)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @Request.application
    def _app(self, request: Request) -> Response:
        self.requests.append((dict(request.headers), request.get_data(as_text=True)))
        return Response("ok" if not self.answers else "try again", status=self.answers.pop(0) if self.answers else 200)

    def __enter__(self) -> Receiver:
        self._thread.start()
        return self

    def __exit__(self, *_exc) -> None:
        self._server.shutdown()


def documented_check(secret: str, header: str, body: str, now: float) -> bool:
    """docs/webhooks.md, written out again here: t and v1 from the header; v1 must equal the hex HMAC-SHA256 of
    "<t>.<body>" under the secret; t must be within five minutes."""
    fields = dict(item.split("=", 1) for item in header.split(","))
    expected = hmac.new(secret.encode(), f"{fields['t']}.{body}".encode(), hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, fields["v1"]) and abs(now - int(fields["t"])) <= 300


def run_jobs(app) -> None:
    worker = SimpleWorker([Queue("default", connection=get_redis(app))], connection=get_redis(app))
    worker.work(burst=True)


@pytest.fixture
def admin(client, auth, factory):
    factory.user(role="admin", username="ada")
    auth.login("ada")
    return client


def _subscribe(admin, url: str, events: list[str]) -> dict:
    response = admin.post("/api/v1/webhooks", json={"url": url, "events": events, "description": "CRM sync"})
    assert response.status_code == 201, response.get_json()
    return response.get_json()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver([500, 500]) as it:
        yield it


def test_a_receiver_that_answers_500_twice_gets_the_delivery_on_the_third_try(app, admin, session, receiver):
    subscription = _subscribe(admin, receiver.url, ["contact.changed"])
    created = admin.post("/api/v1/contacts", json={"first_name": "Dana", "last_name": "Lee",
                                                   "phones": [{"number": "+14155550100"}]})
    assert created.status_code == 201, created.get_json()

    run_jobs(app)

    assert len(receiver.requests) == 3
    bodies = {body for _, body in receiver.requests}
    assert len(bodies) == 1  # every try sends the same body
    for headers, body in receiver.requests:
        assert headers["X-Callcenter-Event"] == "contact.changed"
        assert documented_check(subscription["secret"], headers["X-Callcenter-Signature"], body, time.time())
        assert not documented_check("another secret", headers["X-Callcenter-Signature"], body, time.time())
    payload = json.loads(bodies.pop())
    assert payload["event"] == "contact.changed" and payload["data"]["first_name"] == "Dana"

    log = admin.get(f"/api/v1/webhooks/{subscription['id']}/deliveries").get_json()
    assert [(d["status"], [a["status_code"] for a in d["attempts"]]) for d in log] == [
        ("delivered", [500, 500, 200])]
    assert "secret" not in admin.get("/api/v1/webhooks").get_json()[0]


def test_a_receiver_that_never_accepts_ends_failed_and_in_rqs_failed_registry(app, admin, session):
    with Receiver([503, 503, 503, 503]) as down:
        _subscribe(admin, down.url, ["contact.changed"])
        assert admin.post("/api/v1/contacts", json={"first_name": "Eve"}).status_code == 201
        run_jobs(app)

    delivery = session.scalars(select(WebhookDelivery)).one()
    assert (delivery.status, [a["status_code"] for a in delivery.attempts]) == ("failed", [503, 503, 503, 503])
    assert len(FailedJobRegistry("default", connection=get_redis(app))) == 1


def test_a_call_that_completes_is_delivered_once_however_often_it_is_noticed(app, admin, session, factory):
    with Receiver([]) as crm:
        _subscribe(admin, crm.url, ["call.completed"])
        call = factory.call()
        for _ in range(2):  # derived twice: the second time it is already completed
            call.status = "in-progress"
            session.commit()
            call.status = "completed"
            session.commit()
        run_jobs(app)

    assert [json.loads(body)["data"]["call_sid"] for _, body in crm.requests] == [call.call_sid]
    assert session.scalar(select(Call.status).where(Call.id == call.id)) == "completed"


def test_nothing_is_queued_for_an_event_nobody_subscribed_to(app, admin, session):
    _subscribe(admin, "https://crm.example.com/hooks", ["ticket.created"])
    assert admin.post("/api/v1/contacts", json={"first_name": "Zoe"}).status_code == 201
    assert len(Queue("default", connection=get_redis(app))) == 0


def test_only_admins_manage_subscriptions_and_bad_input_is_a_4xx(client, auth, factory, admin):
    bad_url = admin.post("/api/v1/webhooks", json={"url": "ftp://example.com", "events": ["call.completed"]})
    assert (bad_url.status_code, bad_url.get_json()["field"]) == (422, "url")
    bad_event = admin.post("/api/v1/webhooks", json={"url": "https://example.com", "events": ["call.exploded"]})
    assert bad_event.status_code == 422 and bad_event.get_json()["message"]
    auth.logout()
    factory.user(username="amy")
    auth.login("amy")
    assert client.get("/api/v1/webhooks").status_code == 403
    assert client.post("/api/v1/webhooks", json={"url": "https://example.com", "events": ["call.completed"]}
                       ).status_code == 403


def test_the_signature_is_hmac_sha256_over_the_timestamp_and_body():
    secret, body = "s3cret", '{"event": "call.completed"}'
    header = webhooks.signature_header(secret, 1_700_000_000, body)
    expected = hmac.new(b"s3cret", b'1700000000.{"event": "call.completed"}', hashlib.sha256).hexdigest()
    assert header == f"t=1700000000,v1={expected}"
    assert webhooks.verify(secret, header, body, now=1_700_000_100)
    assert not webhooks.verify(secret, header, body + " ", now=1_700_000_100)  # body changed
    assert not webhooks.verify(secret, header, body, now=1_700_000_000 + 301)  # too old: a replay


def test_each_committed_change_of_a_contact_is_its_own_delivery(app, admin, session):
    with Receiver([]) as crm:
        _subscribe(admin, crm.url, ["contact.changed"])
        contact_id = admin.post("/api/v1/contacts", json={"first_name": "Ann"}).get_json()["id"]
        assert admin.patch(f"/api/v1/contacts/{contact_id}", json={"last_name": "Lee"}).status_code == 200
        run_jobs(app)

    assert [json.loads(body)["data"]["last_name"] for _, body in crm.requests] == ["", "Lee"]
