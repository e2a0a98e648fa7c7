"""Callbacks to the end: owner first then the queue, outbound callbacks to their owner, automatic callbacks for
callers who hung up, dials that happen at most once, and the desk's reschedule / reassign / cancel."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest
from sqlalchemy import select

from callcenter.models import AuditEntry, Callback, CallbackAttempt, Queue, Team
from callcenter.services import acd, agent_state, callback_desk, callbacks, caller_steps, routing
from callcenter.services.errors import Conflict, NotFound, ValidationFailed
from callcenter.services.interactions import set_interaction
from callcenter.services.jobs import pending
from callcenter.telephony.base import TelephonyError

T0 = 1_800_000_000.0  # 2027-01-15 08:00 UTC
AT = datetime.fromtimestamp(T0, UTC)
DANA = "+442071838750"  # London: 08:00 there, inside the gate's calling window


@pytest.fixture
def app_config(app_config):
    # The dial job is queued, not run inline: these tests run each dial themselves.
    return {**app_config, "JOBS_INLINE": False}


@pytest.fixture
def queue(session):
    queue = Queue(name="Support", sticky_agent_wait_seconds=20, reservation_timeout_seconds=15, wrap_up_seconds=0,
                  callback_owner_wait_seconds=300)
    session.add(queue)
    session.commit()
    return queue


@pytest.fixture
def agent(session, factory, acd_redis):
    def make(idle_since: float, **kwargs) -> int:
        user = factory.user(**kwargs)
        agent_state.login(session, acd_redis, user.id, now=idle_since)
        return user.id

    return make


def _booked(session, *, queue_id=None, owner_id=None, phone=DANA, due=AT, **values) -> Callback:
    callback = Callback(phone_e164=phone, queue_id=queue_id, owner_id=owner_id, requested_at=due - timedelta(hours=1),
                        due_at=due, status="scheduled", **values)
    session.add(callback)
    session.commit()
    return callback


def test_an_owned_callback_is_offered_to_its_owner_before_a_longer_idle_agent(session, acd_redis, queue, agent):
    other = agent(T0 - 600)
    owner = agent(T0 - 10)
    callback = _booked(session, queue_id=queue.id, owner_id=owner, source="wrap_up")

    assert callbacks.release_due_callbacks(session, acd_redis, T0) == [callback.id]

    entry = acd.get_entry(acd_redis, callbacks.entry_id_of(callback))
    assert (entry.status, entry.agent_id) == ("reserved", owner)
    assert agent_state.get_presence(acd_redis, other).state == "available"


def test_the_queue_gets_an_owned_callback_only_after_the_owner_wait(session, acd_redis, queue, agent):
    other = agent(T0 - 600)
    owner = agent(T0 - 10)
    agent_state.change_state(session, acd_redis, owner, "away", reason="break", now=T0 - 5)
    callback = _booked(session, queue_id=queue.id, owner_id=owner)

    callbacks.release_due_callbacks(session, acd_redis, T0)
    assert routing.dispatch(session, acd_redis, T0 + 299) == []
    assert acd.get_entry(acd_redis, callbacks.entry_id_of(callback)).status == "waiting"

    [offer] = routing.dispatch(session, acd_redis, T0 + 301)
    assert (offer.call_sid, offer.agent_id) == (callbacks.entry_id_of(callback), other)


def test_an_owner_who_logged_out_does_not_hold_their_callback_back(session, acd_redis, queue, agent):
    other = agent(T0 - 600)
    owner = agent(T0 - 10)
    agent_state.logout(session, acd_redis, owner, now=T0 - 5)
    callback = _booked(session, queue_id=queue.id, owner_id=owner)

    callbacks.release_due_callbacks(session, acd_redis, T0)

    assert acd.get_entry(acd_redis, callbacks.entry_id_of(callback)).agent_id == other


def test_a_callback_after_an_outbound_call_is_released_to_its_owner_through_their_team_queue(
        session, acd_redis, queue, agent):
    owner = agent(T0 - 10, team="Closers")
    agent(T0 - 600)
    session.scalar(select(Team).where(Team.name == "Closers")).queue_id = queue.id
    session.commit()
    outbound = _booked(session, owner_id=owner, source="wrap_up")
    nobody = _booked(session, phone="+442071838751")  # no queue, no owner: a person assigns it

    assert callbacks.release_due_callbacks(session, acd_redis, T0) == [outbound.id]

    entry = acd.get_entry(acd_redis, callbacks.entry_id_of(outbound))
    assert (entry.queue_id, entry.agent_id) == (queue.id, owner)
    session.refresh(nobody)
    assert nobody.status == "scheduled"


def test_an_owner_without_a_team_queue_keeps_the_callback_waiting_for_assignment(session, acd_redis, agent):
    owner = agent(T0 - 10)
    callback = _booked(session, owner_id=owner)

    assert callbacks.release_due_callbacks(session, acd_redis, T0) == []
    session.refresh(callback)
    assert callback.status == "scheduled"


# --- Callers who hung up ------------------------------------------------------------------------------------------


def _waiting_caller(session, r, factory, queue, at: float, number: str = DANA):
    call = factory.call(from_number=number)
    routing.enqueue_call(session, r, call_sid=call.call_sid, queue_id=queue.id, from_number=number, now=at)
    return call


def test_a_caller_who_hangs_up_after_the_minimum_wait_gets_one_callback(session, acd_redis, factory, queue):
    queue.abandoned_callbacks, queue.abandoned_callback_min_wait_seconds = True, 30
    session.commit()
    patient = _waiting_caller(session, acd_redis, factory, queue, T0)
    caller_steps.call_ended(session, acd_redis, patient.call_sid, now=T0 + 45)
    again = _waiting_caller(session, acd_redis, factory, queue, T0 + 100)
    caller_steps.call_ended(session, acd_redis, again.call_sid, now=T0 + 200)

    [booked] = session.scalars(select(Callback)).all()
    assert (booked.phone_e164, booked.queue_id, booked.source, booked.status, booked.call_id) == (
        DANA, queue.id, "abandoned", "scheduled", patient.id)
    assert booked.requested_at.replace(tzinfo=UTC) <= booked.due_at.replace(tzinfo=UTC)


def test_no_automatic_callback_for_a_short_wait_or_when_the_queue_switch_is_off(session, acd_redis, factory, queue):
    queue.abandoned_callbacks, queue.abandoned_callback_min_wait_seconds = True, 30
    session.commit()
    hasty = _waiting_caller(session, acd_redis, factory, queue, T0)
    caller_steps.call_ended(session, acd_redis, hasty.call_sid, now=T0 + 10)
    queue.abandoned_callbacks = False
    session.commit()
    patient = _waiting_caller(session, acd_redis, factory, queue, T0 + 100, number="+442071838752")
    caller_steps.call_ended(session, acd_redis, patient.call_sid, now=T0 + 400)

    assert session.scalars(select(Callback)).all() == []


# --- Dialling at most once ------------------------------------------------------------------------------------------


class Carrier:
    """The provider's add_participant: records each dial; may refuse."""

    def __init__(self, refuse: bool = False) -> None:
        self.dials: list[dict] = []
        self.refuse = refuse

    def add_participant(self, conference: str, **kwargs):
        self.dials.append({"conference": conference, **kwargs})
        if self.refuse:
            raise TelephonyError("refused")
        return SimpleNamespace(call_sid=f"CAcustomer{len(self.dials)}")


def _answered(session, r, queue, agent_id: int) -> CallbackAttempt:
    callback = _booked(session, queue_id=queue.id)
    callbacks.release_due_callbacks(session, r, T0)
    entry_id = callbacks.entry_id_of(callback)
    set_interaction(r, entry_id, conference_name=f"cc-{entry_id}", callback_phone=DANA)
    attempt = callbacks.start_dialing(session, r, entry_id, callback.id, agent_id)
    assert [d.name for d in pending(session)] == [callbacks.DIAL_JOB]
    session.commit()
    return attempt


def _url(path: str, **query) -> str:
    return "https://cc.example.com/ivr" + path + "?" + "&".join(f"{k}={v}" for k, v in query.items())


def test_a_dial_run_twice_calls_the_customer_once_and_records_the_attempt(session, acd_redis, queue, agent):
    carrier = Carrier()
    attempt = _answered(session, acd_redis, queue, agent(T0 - 10))

    first = callbacks.dial(session, acd_redis, carrier, attempt.id, caller_id="+18005550100", webhook_url=_url)
    second = callbacks.dial(session, acd_redis, carrier, attempt.id, caller_id="+18005550100", webhook_url=_url)

    assert (first, second) == ("CAcustomer1", None)
    assert [d["to"] for d in carrier.dials] == [DANA]
    assert carrier.dials[0]["status_callback"].endswith(f"callback_attempt={attempt.id}")
    session.refresh(attempt)
    assert (attempt.result, attempt.call_sid, attempt.attempt) == ("dialing", "CAcustomer1", 1)
    assert callbacks.callback_of_leg(acd_redis, "CAcustomer1") == attempt.entry_id


def test_a_run_that_died_after_its_claim_never_dials_and_the_carrier_links_the_leg(session, acd_redis, queue, agent):
    attempt = _answered(session, acd_redis, queue, agent(T0 - 10))
    assert callbacks.claim_dial(session, attempt.id)  # the first run claimed, asked the carrier, then died
    carrier = Carrier()

    assert callbacks.dial(session, acd_redis, carrier, attempt.id, caller_id="+1", webhook_url=_url) is None
    assert carrier.dials == []
    callbacks.leg_reported(session, acd_redis, attempt.id, "CAplacedbythedeadrun")  # its status callback
    session.refresh(attempt)
    assert attempt.call_sid == "CAplacedbythedeadrun"
    assert callbacks.callback_of_leg(acd_redis, "CAplacedbythedeadrun") == attempt.entry_id


def test_a_claimed_dial_that_never_reached_the_carrier_is_retried_later(session, acd_redis, queue, agent):
    attempt = _answered(session, acd_redis, queue, agent(T0 - 10))
    assert callbacks.claim_dial(session, attempt.id)
    attempt.claimed_at = datetime.now(UTC) - timedelta(minutes=5)
    session.commit()

    callbacks.release_due_callbacks(session, acd_redis)

    session.refresh(attempt)
    callback = session.get(Callback, attempt.callback_id)
    assert (attempt.result, callback.status) == ("interrupted", "scheduled")
    assert callback.due_at.replace(tzinfo=UTC) > datetime.now(UTC)


def test_a_refused_dial_fails_the_attempt_and_books_a_retry(session, acd_redis, queue, agent):
    attempt = _answered(session, acd_redis, queue, agent(T0 - 10))

    assert callbacks.dial(session, acd_redis, Carrier(refuse=True), attempt.id, caller_id="+1",
                          webhook_url=_url) is None

    session.refresh(attempt)
    assert attempt.result == "failed" and attempt.ended_at is not None
    assert session.get(Callback, attempt.callback_id).status == "scheduled"


# --- The desk -----------------------------------------------------------------------------------------------------


def test_rescheduling_an_offered_callback_takes_it_out_of_the_queue(session, acd_redis, factory, queue):
    owner = factory.user()
    callback = _booked(session, queue_id=queue.id, owner_id=owner.id)
    callbacks.release_due_callbacks(session, acd_redis, T0)
    later = datetime.now(UTC) + timedelta(days=1)

    callback_desk.reschedule(session, acd_redis, owner, callback.id, later)

    assert acd.get_entry(acd_redis, callbacks.entry_id_of(callback)) is None
    session.refresh(callback)
    assert (callback.status, callback.due_at.replace(tzinfo=UTC)) == ("scheduled", later)
    audited = select(AuditEntry.action).where(AuditEntry.entity_type == "Callback",
                                              AuditEntry.entity_id == str(callback.id))
    assert session.scalars(audited).all() == ["callback.rescheduled"]
    with pytest.raises(ValidationFailed):
        callback_desk.reschedule(session, acd_redis, owner, callback.id, datetime.now(UTC) - timedelta(days=1))


def test_cancel_closes_a_callback_for_good(session, acd_redis, factory, queue):
    owner = factory.user()
    callback = _booked(session, queue_id=queue.id, owner_id=owner.id)
    callbacks.release_due_callbacks(session, acd_redis, T0)

    callback_desk.cancel(session, acd_redis, owner, callback.id)

    assert acd.get_entry(acd_redis, callbacks.entry_id_of(callback)) is None
    assert session.get(Callback, callback.id).status == "cancelled"
    with pytest.raises(Conflict):
        callback_desk.cancel(session, acd_redis, owner, callback.id)


def test_agents_see_their_own_supervisors_their_team_and_reassign_within_it(session, acd_redis, factory, queue):
    ann = factory.user(team="Blue")
    bob = factory.user(team="Blue")
    eve = factory.user(team="Red")
    boss = factory.user(role="supervisor", team="Blue")
    admin = factory.user(role="admin")
    ours = _booked(session, queue_id=queue.id, owner_id=ann.id)
    theirs = _booked(session, queue_id=queue.id, owner_id=eve.id, phone="+442071838753")

    seen = {who: [c.id for c in callback_desk.search(session, who, callback_desk.CallbackFilters())[0]]
            for who in (ann, bob, boss, admin)}
    assert seen == {ann: [ours.id], bob: [], boss: [ours.id], admin: [ours.id, theirs.id]}
    with pytest.raises(NotFound):
        callback_desk.get(session, bob, ours.id)
    with pytest.raises(ValidationFailed):  # an agent cannot hand their callback to a colleague
        callback_desk.reassign(session, acd_redis, ann, ours.id, owner_id=bob.id)
    with pytest.raises(ValidationFailed):  # nor a supervisor to another team
        callback_desk.reassign(session, acd_redis, boss, ours.id, owner_id=eve.id)

    callback_desk.reassign(session, acd_redis, boss, ours.id, owner_id=bob.id)

    assert [c.id for c in callback_desk.search(session, bob, callback_desk.CallbackFilters())[0]] == [ours.id]
    assert [c.id for c in callback_desk.search(session, admin, callback_desk.CallbackFilters(
        owner_id=eve.id))[0]] == [theirs.id]


def test_a_web_request_is_booked_once_per_number(session, queue):
    first = callback_desk.book_web_request(session, phone="020 7183 8750", queue_id=queue.id, name="Dana",
                                           region="GB")
    again = callback_desk.book_web_request(session, phone="+44 20 7183 8750", queue_id=queue.id)

    assert first.id == again.id
    assert (first.phone_e164, first.source, first.status, first.notes) == (DANA, "web", "scheduled", "Dana")
    with pytest.raises(ValidationFailed):
        callback_desk.book_web_request(session, phone="not a number", queue_id=queue.id)
