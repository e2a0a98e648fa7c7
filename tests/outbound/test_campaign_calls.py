"""A placed campaign call's steps (services.campaign_calls) and the dialer's job, without the emulator: who
answered, the 2 s deadline, carrier results, repeated callbacks, the ticker's enqueue."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from callcenter.extensions import db
from callcenter.models import DialAttempt, Queue, QueueSkill
from callcenter.redis_conn import get_redis
from callcenter.services import acd, agent_state, calls, campaign_calls, dialer, dialing_gate, leads
from callcenter.services.auth import get_or_create_skill
from tests.outbound.conftest import over_dial
from tests.outbound.test_dialer import RecordingProvider, urls
from workers import dialer as dialer_job
from workers import ticker

NOW = datetime(2026, 12, 1, 18, 0, tzinfo=UTC)


@pytest.fixture
def r(app):
    return get_redis(app)


@pytest.fixture
def queue(session):
    queue = Queue(name="Renewals", wrap_up_seconds=0)
    queue.skills = [QueueSkill(skill=get_or_create_skill(session, "renewals"), min_level=1)]
    session.add(queue)
    session.commit()
    return queue


@pytest.fixture
def provider():
    return RecordingProvider()


def _campaign(outbound, factory, **values):
    """A predictive campaign with one agent and lines enough for every lead of a test."""
    return outbound.campaign(mode="predictive", dial_ratio=5, agents=[factory.user()], **values)


def _placed(session, r, outbound, campaign, provider):
    """One new lead of `campaign` dialled by the dialer (through a recording provider): (lead, attempt)."""
    agent = campaign.agents[0].user
    if agent_state.get_presence(r, agent.id).state == agent_state.OFFLINE:
        agent_state.login(session, r, agent.id)
    else:
        agent_state.change_state(session, r, agent.id, agent_state.AVAILABLE)
    session.commit()
    lead = outbound.lead(campaign)
    run = dialer.dial_campaign(session, r, provider, campaign, NOW, urls,
                               dialer.DialSettings(caller_id="+18005550199", calls_per_second=100,
                                                   pace=over_dial(5)))
    [placed] = run.placed
    agent_state.change_state(session, r, agent.id, agent_state.AWAY, reason="break")  # nobody to take it
    session.commit()
    return lead, session.get(DialAttempt, placed.attempt_id)


def test_a_machine_gets_the_drop_a_fax_gets_nothing_and_both_recycle(session, r, outbound, factory, provider):
    campaign = _campaign(outbound, factory, voicemail_drop_text="Call us back")
    machine_lead, machine = _placed(session, r, outbound, campaign, provider)
    fax_lead, fax = _placed(session, r, outbound, campaign, provider)
    assert dialer.lines_in_flight(r, campaign.id, NOW.timestamp()) == 2

    step = campaign_calls.answered(session, r, call_sid=machine.call_sid, attempt_id=machine.id,
                                   answered_by="machine_end_beep", now=time.time())
    assert (step.kind, step.text) == ("message", "Call us back")
    step = campaign_calls.answered(session, r, call_sid=fax.call_sid, attempt_id=fax.id, answered_by="fax",
                                   now=time.time())
    assert (step.kind, step.text) == ("message", "")

    for lead, attempt in ((machine_lead, machine), (fax_lead, fax)):
        session.refresh(attempt)
        session.refresh(lead)
        assert attempt.outcome == "machine" and lead.status == "pending" and lead.last_result == "machine"
    assert (machine.answered_by, fax.answered_by) == ("machine_end_beep", "fax")
    assert dialer.lines_in_flight(r, campaign.id, NOW.timestamp()) == 0


def test_a_person_nobody_takes_within_the_deadline_is_abandoned_and_locked_out(session, r, outbound, factory,
                                                                              provider, queue):
    campaign = _campaign(outbound, factory, queue=queue,
                                 identification_text="This was Acme")
    lead, attempt = _placed(session, r, outbound, campaign, provider)
    answered_at = time.time()

    step = campaign_calls.answered(session, r, call_sid=attempt.call_sid, attempt_id=attempt.id,
                                   answered_by="human", now=answered_at, connect_seconds=2)
    assert (step.kind, step.wait_seconds) == ("wait", 2)
    entry = acd.get_entry(r, attempt.call_sid)
    assert entry.status == "waiting" and entry.priority >= campaign_calls.CAMPAIGN_PRIORITY_BOOST
    assert campaign_calls.connect_check(session, r, call_sid=attempt.call_sid, attempt_id=attempt.id,
                                        now=answered_at + 1.2).wait_seconds == 1
    # A retried answer webhook changes nothing.
    again = campaign_calls.answered(session, r, call_sid=attempt.call_sid, attempt_id=attempt.id,
                                    answered_by="human", now=answered_at + 1.5)
    assert again.kind == "wait"

    step = campaign_calls.connect_check(session, r, call_sid=attempt.call_sid, attempt_id=attempt.id,
                                        now=answered_at + 2.01)

    assert (step.kind, step.text) == ("message", "This was Acme")
    assert acd.get_entry(r, attempt.call_sid) is None
    session.refresh(attempt)
    session.refresh(lead)
    assert (attempt.outcome, attempt.answered_by, lead.status, lead.last_result) == (
        "abandoned", "human", "pending", "abandoned")
    decision = dialing_gate.evaluate(session, lead.phone_e164, now=datetime.now(UTC) + timedelta(hours=1))
    assert decision.reason == dialing_gate.ABANDON_LOCKOUT
    # The completed callback that follows changes nothing more.
    campaign_calls.call_status(session, r, {"CallSid": attempt.call_sid, "CallStatus": "completed"},
                               attempt_id=attempt.id, received_at=datetime.now(UTC))
    session.refresh(lead)
    assert (lead.status, lead.attempts) == ("pending", 1)


def test_a_campaign_without_a_queue_has_no_agent_to_offer_to(session, r, outbound, factory, provider):
    campaign = _campaign(outbound, factory, identification_text="Acme here")
    _lead, attempt = _placed(session, r, outbound, campaign, provider)

    step = campaign_calls.answered(session, r, call_sid=attempt.call_sid, attempt_id=attempt.id,
                                   answered_by="unknown", now=time.time())

    assert (step.kind, step.text) == ("message", "Acme here")
    session.refresh(attempt)
    assert attempt.outcome == "abandoned"


@pytest.mark.parametrize(("status", "outcome"), [("no-answer", "no-answer"), ("busy", "busy"),
                                                 ("failed", "failed"), ("canceled", "no-answer")])
def test_unanswered_calls_recycle_once_however_often_the_carrier_says_so(session, r, outbound, factory, provider,
                                                                         status, outcome):
    campaign = _campaign(outbound, factory, retry_minutes=45)
    lead, attempt = _placed(session, r, outbound, campaign, provider)
    received = datetime.now(UTC)

    for sequence in ("1", "1", "2"):
        campaign_calls.call_status(session, r, {"CallSid": attempt.call_sid, "CallStatus": status,
                                                "SequenceNumber": sequence}, attempt_id=attempt.id,
                                   received_at=received)

    session.refresh(attempt)
    session.refresh(lead)
    assert attempt.outcome == outcome
    assert (lead.status, lead.attempts, lead.next_attempt_at) == ("pending", 1, received + timedelta(minutes=45))
    assert calls.get_call(session, attempt.call_sid).campaign_id == campaign.id
    assert dialer.lines_in_flight(r, campaign.id, NOW.timestamp()) == 0


def test_a_status_callback_for_a_call_of_another_attempt_decides_nothing(session, r, outbound, factory, provider):
    campaign = _campaign(outbound, factory)
    lead, attempt = _placed(session, r, outbound, campaign, provider)

    campaign_calls.call_status(session, r, {"CallSid": "CA" + "7" * 32, "CallStatus": "busy"},
                               attempt_id=attempt.id, received_at=datetime.now(UTC))

    session.refresh(attempt)
    assert attempt.outcome is None and session.get(type(lead), lead.id).status == leads.DIALING


class AnsweredByAMachineAtOnce(RecordingProvider):
    """The carrier's answer webhook arrives (in a process of its own) before place_call has returned."""

    def __init__(self, r) -> None:
        super().__init__()
        self.r, self.steps = r, []

    def place_call(self, to, from_, **options):
        info = super().place_call(to, from_, **options)
        attempt_id = int(options["url"].rsplit("attempt=", 1)[1])
        with Session(db.engine) as webhook:
            self.steps.append(campaign_calls.answered(webhook, self.r, call_sid=info.sid, attempt_id=attempt_id,
                                                      answered_by="machine_end_beep", now=time.time()))
        return info


def test_an_answer_that_comes_before_the_dialer_stored_the_call_is_still_the_attempts(session, r, outbound,
                                                                                      factory):
    campaign = _campaign(outbound, factory, voicemail_drop_text="Call us back")
    provider = AnsweredByAMachineAtOnce(r)

    lead, attempt = _placed(session, r, outbound, campaign, provider)

    [step] = provider.steps
    assert (step.kind, step.text) == ("message", "Call us back")  # the drop, not a silent hang-up
    session.refresh(attempt)
    assert (attempt.outcome, attempt.answered_by, attempt.call_sid) == ("machine", "machine_end_beep",
                                                                        "CA" + "1".rjust(32, "0"))
    session.refresh(lead)
    assert (lead.last_result, lead.status) == (leads.MACHINE, leads.PENDING)  # back in line
    assert dialer.lines_in_flight(r, campaign.id, NOW.timestamp()) == 0  # its line was freed before it was counted


def test_the_dialer_job_runs_every_running_campaign_once_at_a_time(app, session, r, outbound, factory, provider,
                                                                    monkeypatch):
    monkeypatch.setattr(dialer_job, "get_provider", lambda: provider)
    agent = factory.user()
    campaign = outbound.campaign(mode="progressive", agents=[agent])
    outbound.lead(campaign)
    outbound.lead(campaign)
    agent_state.login(session, r, agent.id)
    session.commit()

    r.set(dialer_job.RUNNING_KEY, "1")  # another pass is running
    assert dialer_job.dial_running_campaigns() == [] and provider.placed == []
    r.delete(dialer_job.RUNNING_KEY)

    ticker.tick(app)  # the ticker enqueues the pass (run at once here: JOBS_INLINE)

    assert len(provider.placed) == 1  # one idle agent: one line
    assert r.get(dialer_job.RUNNING_KEY) is None
    ticker.tick(app)
    assert len(provider.placed) == 1  # its line is still in flight
    attempts = session.scalars(select(DialAttempt).where(DialAttempt.allowed.is_(True))).all()
    assert [a.placed_because for a in attempts] == ["progressive: 1 idle agent(s), 0 line(s) in flight -> 1 new"]


def test_the_callees_twiml_waits_then_asks_again_or_says_the_message_and_hangs_up():
    import xml.etree.ElementTree as ET

    from callcenter.telephony import twiml

    wait = ET.fromstring(twiml.wait_for_agent(2, "http://localhost/ivr/campaign/connect?attempt=4").to_xml())
    assert [(v.tag, v.attrib.get("length"), v.text) for v in wait] == [
        ("Pause", "2", None), ("Redirect", None, "http://localhost/ivr/campaign/connect?attempt=4")]
    drop = ET.fromstring(twiml.say_and_hang_up("Call us back").to_xml())
    assert [(v.tag, v.text) for v in drop] == [("Say", "Call us back"), ("Hangup", None)]
    assert [v.tag for v in ET.fromstring(twiml.say_and_hang_up("").to_xml())] == ["Hangup"]
