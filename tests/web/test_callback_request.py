"""The public "call me back" request: no login, no CSRF token, framable form, rate-limited per client address and
per number, the number checked."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from callcenter.models import Callback, DialAttempt, DoNotCall, Queue
from callcenter.redis_conn import get_redis
from callcenter.services import callbacks, dialing_gate
from callcenter.services.dialing_gate import DialRules


@pytest.fixture
def redis_client(app):
    return get_redis(app)


@pytest.fixture
def north(session):
    queue = Queue(name="Support")
    session.add(queue)
    session.commit()
    return {"queue": queue}


@pytest.fixture
def app_config(app_config):
    # The public request must work with CSRF protection on, as in production.
    return {**app_config, "WTF_CSRF_ENABLED": True}


def test_the_public_request_books_one_callback_and_limits_each_number(client, session, north):
    queue = north["queue"].id
    form = client.get(f"/callback-request/form?queue={queue}")
    assert form.status_code == 200 and "frame-ancestors *" in form.headers["Content-Security-Policy"]

    first = client.post("/callback-request", json={"phone": "(415) 555-0177", "queue": queue, "name": "Dana"})
    assert first.status_code == 201 and first.headers["Access-Control-Allow-Origin"] == "*"
    assert "Set-Cookie" not in first.headers
    again = client.post("/callback-request", data={"phone": "+1 415 555 0177", "queue": str(queue),
                                                   "format": "html"})
    assert again.status_code == 201 and "frame-ancestors *" in again.headers["Content-Security-Policy"]
    [booked] = session.scalars(select(Callback)).all()
    assert (booked.phone_e164, booked.queue_id, booked.source, booked.notes) == ("+14155550177", queue, "web", "Dana")

    assert client.post("/callback-request", json={"phone": "4155550177", "queue": queue}).status_code == 201
    limited = client.post("/callback-request", json={"phone": "4155550177", "queue": queue})
    assert limited.status_code == 429 and int(limited.headers["Retry-After"]) > 0
    assert limited.get_json()["message"]

    invalid = client.post("/callback-request", json={"phone": "12", "queue": queue})
    assert (invalid.status_code, invalid.get_json()["field"]) == (422, "phone")
    assert client.post("/callback-request", json={"phone": "4155550199"}).status_code == 422
    assert client.options("/callback-request").headers["Access-Control-Allow-Methods"] == "POST, OPTIONS"


def test_the_public_request_is_limited_per_client_address(client, session, north):
    answers = [client.post("/callback-request", json={"phone": f"+1415555{n:04d}", "queue": north["queue"].id},
                           environ_base={"REMOTE_ADDR": "203.0.113.9"}).status_code for n in range(7)]
    assert answers == [201] * 5 + [429] * 2
    other = client.post("/callback-request", json={"phone": "+14155559999", "queue": north["queue"].id},
                        environ_base={"REMOTE_ADDR": "198.51.100.7"})
    assert other.status_code == 201


def test_a_web_request_for_a_do_not_call_number_is_refused_by_the_dialing_gate(client, session, north, redis_client):
    session.add(DoNotCall(phone_e164="+14155550188", source="internal", reason="asked not to be called"))
    session.commit()
    assert client.post("/callback-request", json={"phone": "+14155550188", "queue": north["queue"].id}
                       ).status_code == 201

    rules = DialRules.from_config(client.application.config)  # all day: only the list can refuse
    assert callbacks.release_due_callbacks(session, redis_client, rules=rules) == []

    session.expire_all()
    assert session.scalars(select(Callback.status)).all() == ["failed"]
    [refusal] = session.scalars(select(DialAttempt).where(DialAttempt.phone_e164 == "+14155550188")).all()
    assert (refusal.allowed, refusal.reason, refusal.path) == (False, dialing_gate.DNC_INTERNAL, "callback")
