"""Every path that places a call asks the dialing gate: refused end to end through the emulator, the refusal
stored with its reason and the reason told to whoever tried (the console's API answer, the softphone's prompt)."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from callcenter.models import Callback, DialAttempt, DoNotCall
from callcenter.services import auth as auth_service
from callcenter.services import dialing_gate
from callcenter.services.interactions import agent_identity
from tests.inbound.conftest import NUMBER
from tests.inbound.test_inbound_calls import _available
from tests.realtime.conftest import received

BLOCKED = "+14155550177"
FINE = "+14155550178"


def _bearer(session, user) -> dict[str, str]:
    token = auth_service.issue_api_token(session, user, "test", actor_id=None)
    session.commit()
    return {"Authorization": f"Bearer {token}"}


def _on_dnc(session, number: str, source: str = "internal") -> None:
    session.add(DoNotCall(phone_e164=number, source=source, reason="asked not to be called"))
    session.commit()


def _attempts(session, number: str) -> list[DialAttempt]:
    session.expire_all()
    return list(session.scalars(select(DialAttempt).where(DialAttempt.phone_e164 == number)
                                .order_by(DialAttempt.id)))


def test_click_to_call_to_a_do_not_call_number_is_refused_with_the_reason(session, factory, client, sim_carrier):
    alice = factory.user(username="alice")
    _on_dnc(session, BLOCKED)
    sim_carrier.phone(BLOCKED, answer="auto", ring_seconds=0.2)

    response = client.post("/api/v1/calls", json={"to": "(415) 555-0177", "caller_id": NUMBER},
                           headers=_bearer(session, alice))

    assert response.status_code == 409
    body = response.get_json()
    assert body["message"] == "This number is on our do-not-call list"
    assert body["field"] == "to"
    [row] = _attempts(session, BLOCKED)
    assert (row.allowed, row.reason, row.path, row.actor_id) == (False, dialing_gate.DNC_INTERNAL, "click_to_call",
                                                                 alice.id)
    assert not any(c.to == BLOCKED for c in sim_carrier.calls.values())


def test_the_refusal_is_shown_in_the_agents_language(session, factory, client, sim_carrier):
    alice = factory.user(username="alice")
    _on_dnc(session, BLOCKED, source="imported")

    response = client.post("/api/v1/calls", json={"to": BLOCKED, "caller_id": NUMBER},
                           headers={**_bearer(session, alice), "Accept-Language": "zh-CN"})

    assert response.status_code == 409
    assert response.get_json()["message"] == "该号码在导入的免打扰名单上"


def test_click_to_call_allowed_is_logged_with_its_call(session, factory, client, sim_carrier):
    alice = factory.user(username="alice")
    sim_carrier.phone(FINE, answer="auto", ring_seconds=0.2)

    response = client.post("/api/v1/calls", json={"to": FINE, "caller_id": NUMBER}, headers=_bearer(session, alice))

    assert response.status_code == 201, response.get_json()
    [row] = _attempts(session, FINE)
    assert (row.allowed, row.reason, row.call_sid) == (True, None, response.get_json()["call_sid"])


def test_click_to_call_to_a_premium_rate_number_is_refused(session, factory, client, sim_carrier):
    alice = factory.user(username="alice")
    response = client.post("/api/v1/calls", json={"to": "+1 900 555 1234", "caller_id": NUMBER},
                           headers=_bearer(session, alice))
    assert response.status_code == 409
    assert response.get_json()["message"] == "Premium-rate and special-service numbers cannot be dialled"
    assert [r.reason for r in _attempts(session, "+19005551234")] == [dialing_gate.PREMIUM_RATE]


def test_the_softphone_cannot_dial_a_do_not_call_number_and_hears_why(session, factory, sim_carrier):
    alice = factory.user(username="alice")
    _on_dnc(session, BLOCKED)
    sim_carrier.phone(BLOCKED, answer="auto", ring_seconds=0.2)
    softphone = sim_carrier.client(agent_identity(alice.id))

    leg = softphone.connect({"To": BLOCKED, "CallerId": NUMBER})

    leg.wait_for_say("This number is on our do-not-call list")
    leg.wait_ended()
    assert not any(c.to == BLOCKED and c.direction == "outbound-dial" for c in sim_carrier.calls.values())
    [row] = _attempts(session, BLOCKED)
    assert (row.allowed, row.reason, row.path, row.actor_id, row.call_sid) == (
        False, dialing_gate.DNC_INTERNAL, "softphone", alice.id, leg.sid)


def test_the_softphone_is_refused_once_the_daily_cap_is_reached(session, factory, sim_carrier):
    alice = factory.user(username="alice")
    now = datetime.now(UTC)
    session.add_all([DialAttempt(phone_e164=BLOCKED, path="click_to_call", allowed=True, at=now - timedelta(hours=h))
                     for h in (1, 2, 3)])
    session.commit()
    softphone = sim_carrier.client(agent_identity(alice.id))

    leg = softphone.connect({"To": BLOCKED, "CallerId": NUMBER})

    leg.wait_for_say("called as often as allowed today")
    leg.wait_ended()
    assert _attempts(session, BLOCKED)[-1].reason == dialing_gate.DAILY_CAP


def _due_callback(session, factory, line, number: str, due_at: datetime, booked_by=None) -> Callback:
    contact = factory.contact(phones=(number,), first_name="Dana", last_name="Lee")
    callback = Callback(phone_e164=number, contact_id=contact.id, queue_id=line["Sales"].id, status="scheduled",
                        requested_at=due_at - timedelta(hours=1), due_at=due_at, notes="Wants a quote",
                        created_by_id=booked_by.id if booked_by else None)
    session.add(callback)
    session.commit()
    return callback


def test_a_callback_to_a_do_not_call_number_is_never_offered_nor_dialed(
        app, session, factory, console, sim_carrier, line):
    from workers import ticker

    bob = factory.user(skills={"sales": 5}, username="bob")
    booked = _due_callback(session, factory, line, BLOCKED, datetime.now(UTC) - timedelta(minutes=1), booked_by=bob)
    _on_dnc(session, BLOCKED)
    sock = _available(console, bob)

    ticker.tick(app, time.time())

    session.expire_all()
    assert session.get(Callback, booked.id).status == "failed"
    [row] = _attempts(session, BLOCKED)
    assert (row.allowed, row.reason, row.path, row.actor_id) == (False, dialing_gate.DNC_INTERNAL, "callback", bob.id)
    ticker.tick(app, time.time() + 3600)
    assert received(sock, "offer") == []
    assert not any(c.to == BLOCKED for c in sim_carrier.calls.values())


def test_a_callback_due_at_night_waits_for_the_callees_morning(app, app_config, session, factory, sim_carrier, line):
    from workers import ticker

    app.config["DIAL_CALLING_HOURS"] = "08:00-21:00"
    eleven_pm_la = datetime(2026, 7, 2, 6, 0, tzinfo=UTC)
    booked = _due_callback(session, factory, line, FINE, eleven_pm_la - timedelta(minutes=5))

    ticker.tick(app, eleven_pm_la.timestamp())

    session.expire_all()
    put_off = session.get(Callback, booked.id)
    assert (put_off.status, put_off.due_at) == ("scheduled", datetime(2026, 7, 2, 15, 0, tzinfo=UTC))
    assert [r.reason for r in _attempts(session, FINE)] == [dialing_gate.OUTSIDE_CALLING_WINDOW]

    ticker.tick(app, datetime(2026, 7, 2, 15, 0, tzinfo=UTC).timestamp())

    session.expire_all()
    assert session.get(Callback, booked.id).status == "offered"
    assert [r.allowed for r in _attempts(session, FINE)] == [False, True]
