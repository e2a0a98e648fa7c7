"""The dialer's decisions with a recording provider: how many lines, which leads, through the gate, under the CPS
limit, with machine detection, the campaign's caller ID, and the reason stored on each attempt."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from callcenter.models import Call, DialAttempt, DoNotCall
from callcenter.redis_conn import get_redis
from callcenter.services import agent_state, dialer
from callcenter.telephony.base import CallInfo, ParticipantInfo, TelephonyError
from tests.outbound.conftest import over_dial

NOW = datetime(2026, 12, 1, 18, 0, tzinfo=UTC)


class RecordingProvider:
    """Takes every call the dialer places, answers with a new CallSid (or fails when told to)."""

    def __init__(self) -> None:
        self.placed: list[dict] = []
        self.participants: list[dict] = []
        self.fail = False

    def place_call(self, to, from_, **options):
        if self.fail:
            raise TelephonyError("carrier says no", status=400, code=21210)
        self.placed.append({"to": to, "from": from_, **options})
        return CallInfo(sid=f"CA{len(self.placed):032d}", status="queued")

    def add_participant(self, conference, **options):
        self.participants.append({"conference": conference, **options})
        return ParticipantInfo(call_sid=f"CP{len(self.participants):032d}", conference_sid="CF1")


def urls(path, **query):
    return "http://localhost/ivr" + path + "?" + "&".join(f"{k}={v}" for k, v in query.items())


@pytest.fixture
def r(app):
    return get_redis(app)


def _idle(session, r, *agents):
    for agent in agents:
        agent_state.login(session, r, agent.id, state=agent_state.AVAILABLE)
    session.commit()


def _settings(**values):
    values.setdefault("pace", over_dial(2.0))  # the predictive tests here set dial_ratio 2: a fixed policy
    values.setdefault("caller_id", "+18005550199")
    values.setdefault("calls_per_second", 100)
    values.setdefault("join_twiml",
                      lambda name, end: f"<Response><Dial><Conference>{name}</Conference></Dial></Response>")
    return dialer.DialSettings(**values)


def test_progressive_places_one_line_per_idle_agent_minus_lines_in_flight(session, r, outbound, factory):
    agents = [factory.user() for _ in range(3)]
    campaign = outbound.campaign(mode="progressive", agents=agents, caller_id="+18005550177",
                                 voicemail_drop_text="Hi, call us back")
    for _ in range(5):
        outbound.lead(campaign)
    _idle(session, r, *agents[:2])  # the third agent is offline
    dialer.call_in_flight(r, campaign.id, "CAalreadyringing", NOW.timestamp())
    provider = RecordingProvider()

    run = dialer.dial_campaign(session, r, provider, campaign, NOW, urls, _settings())

    assert run.decision.lines == 1 and run.decision.idle_agents == 2 and run.decision.in_flight == 1
    [call] = provider.placed
    assert call["from"] == "+18005550177"  # the campaign's caller ID
    assert call["machine_detection"] == "DetectMessageEnd"  # a drop message waits for the beep
    assert "/campaign/answer" in call["url"] and "/campaign/status" in call["status_callback"]
    [attempt] = session.scalars(select(DialAttempt).where(DialAttempt.allowed.is_(True))).all()
    assert attempt.path == "progressive" and attempt.call_sid == run.placed[0].call_sid
    assert attempt.placed_because == "progressive: 2 idle agent(s), 1 line(s) in flight -> 1 new"
    assert attempt.campaign_contact_id == run.placed[0].lead_id
    record = session.scalar(select(Call).where(Call.call_sid == attempt.call_sid))
    assert (record.campaign_id, record.direction) == (campaign.id, "outbound-api")
    assert dialer.lines_in_flight(r, campaign.id, NOW.timestamp()) == 2


def test_a_call_that_landed_before_the_dialer_counted_it_holds_no_line(r):
    # The carrier answered (a machine) and the webhook freed the line before the dialer, busy committing, got
    # round to counting it: counted now, it would hold a line until it aged out.
    dialer.call_landed(r, 7, "CAlandedfirst")
    dialer.call_in_flight(r, 7, "CAlandedfirst", NOW.timestamp())
    dialer.call_in_flight(r, 7, "CAstillringing", NOW.timestamp())

    assert dialer.lines_in_flight(r, 7, NOW.timestamp()) == 1
    dialer.call_landed(r, 7, "CAstillringing")
    assert dialer.lines_in_flight(r, 7, NOW.timestamp()) == 0


def test_a_fixed_pacing_policy_dials_its_ratio_per_idle_agent(session, r, outbound, factory):
    agents = [factory.user() for _ in range(3)]
    campaign = outbound.campaign(mode="predictive", agents=agents, dial_ratio=2.0)
    for _ in range(10):
        outbound.lead(campaign)
    _idle(session, r, *agents)
    provider = RecordingProvider()

    run = dialer.dial_campaign(session, r, provider, campaign, NOW, urls, _settings())

    assert len(provider.placed) == 6
    assert {c["machine_detection"] for c in provider.placed} == {"Enable"}  # no drop: answer humans at once
    reasons = set(session.scalars(select(DialAttempt.placed_because).where(DialAttempt.allowed.is_(True))))
    assert reasons == {run.decision.reason}
    assert "3 idle agent(s) x dial ratio 2 = 6 line(s)" in run.decision.reason
    # The next pass in the same second sees its own lines in flight and places nothing more.
    again = dialer.dial_campaign(session, r, provider, campaign, NOW, urls, _settings())
    assert again.decision.lines == 0 and len(provider.placed) == 6
    assert dialer.last_pacing(r, campaign.id)["lines_per_agent"] == 2.0


def test_the_calls_per_second_limit_holds_back_the_rest_without_counting_attempts(session, r, outbound, factory):
    agents = [factory.user() for _ in range(3)]
    campaign = outbound.campaign(mode="predictive", agents=agents, dial_ratio=2.0)
    leads_ = [outbound.lead(campaign) for _ in range(6)]
    _idle(session, r, *agents)
    provider = RecordingProvider()

    run = dialer.dial_campaign(session, r, provider, campaign, NOW, urls, _settings(calls_per_second=2))

    assert run.throttled and len(provider.placed) == 2
    session.expire_all()
    statuses = sorted((lead.status, lead.attempts) for lead in leads_)
    assert statuses == [("dialing", 1)] * 2 + [("pending", 0)] * 4


def test_cps_slots_are_a_sliding_second_shared_by_everyone(r):
    taken = [dialer.take_dial_slot(r, 2, 100.0), dialer.take_dial_slot(r, 2, 100.2), dialer.take_dial_slot(r, 2, 100.4)]
    assert taken == [True, True, False]
    assert dialer.take_dial_slot(r, 2, 100.9) is False  # 100.0 and 100.2 are still within the last second
    assert dialer.take_dial_slot(r, 2, 101.1) is True  # 100.0 has left the window


def test_cps_slots_hold_when_many_dialers_ask_at_once(r):
    results: list[bool] = []
    lock = threading.Lock()
    start = threading.Barrier(8)

    def ask() -> None:
        start.wait()
        for _ in range(5):
            ok = dialer.take_dial_slot(r, 3, 500.0)
            with lock:
                results.append(ok)

    threads = [threading.Thread(target=ask) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert results.count(True) == 3 and len(results) == 40


def test_a_refused_lead_is_blocked_and_the_refusal_keeps_the_reason_it_was_tried(session, r, outbound, factory):
    agent = factory.user()
    campaign = outbound.campaign(mode="progressive", agents=[agent])
    lead = outbound.lead(campaign, "+14155550160")
    session.add(DoNotCall(phone_e164="+14155550160", source="imported"))
    session.commit()
    _idle(session, r, agent)
    provider = RecordingProvider()

    run = dialer.dial_campaign(session, r, provider, campaign, NOW, urls, _settings())

    assert provider.placed == [] and run.placed[0].refused == "dnc_imported"
    refusal = session.scalar(select(DialAttempt))
    assert (refusal.allowed, refusal.reason, refusal.campaign_contact_id) == (False, "dnc_imported", lead.id)
    assert refusal.placed_because.startswith("progressive: 1 idle agent(s)")
    session.refresh(lead)
    assert lead.status == "blocked"


def test_a_carrier_refusal_fails_the_attempt_and_recycles_the_lead(session, r, outbound, factory):
    agent = factory.user()
    campaign = outbound.campaign(mode="progressive", agents=[agent], retry_minutes=5)
    lead = outbound.lead(campaign)
    _idle(session, r, agent)
    provider = RecordingProvider()
    provider.fail = True

    run = dialer.dial_campaign(session, r, provider, campaign, NOW, urls, _settings())

    assert run.placed[0].error == "carrier says no"
    attempt = session.scalar(select(DialAttempt))
    assert attempt.outcome == "failed"
    session.refresh(lead)
    assert (lead.status, lead.attempts, lead.last_result) == ("pending", 1, "failed")


def test_paused_and_preview_campaigns_are_not_auto_dialled(session, r, outbound, factory):
    agent = factory.user()
    paused = outbound.campaign(mode="predictive", agents=[agent], status="paused")
    preview = outbound.campaign(mode="preview", agents=[agent])
    for campaign in (paused, preview):
        outbound.lead(campaign)
    _idle(session, r, agent)
    provider = RecordingProvider()

    for campaign in (paused, preview):
        assert dialer.dial_campaign(session, r, provider, campaign, NOW, urls, _settings()).placed == []
    assert provider.placed == []
    assert [c.id for c in dialer.running_auto_campaigns(session)] == []


def test_preview_reserves_a_lead_then_rings_the_agent_and_the_lead_into_one_conference(session, r, outbound,
                                                                                       factory):
    agent, stranger = factory.user(), factory.user()
    campaign = outbound.campaign(mode="preview", agents=[agent])
    lead = outbound.lead(campaign)
    _idle(session, r, agent)
    provider = RecordingProvider()

    with pytest.raises(Exception, match="not assigned"):
        dialer.reserve_preview(session, campaign, stranger, NOW)
    shown = dialer.reserve_preview(session, campaign, agent, NOW)
    assert shown.id == lead.id and dialer.reserve_preview(session, campaign, agent, NOW).id == lead.id

    placed = dialer.dial_preview(session, r, provider, agent=agent, lead_id=lead.id, now=NOW, urls=urls,
                                 settings=_settings())

    [agent_leg] = provider.placed
    [customer] = provider.participants
    assert agent_leg["to"] == f"client:agent-{agent.id}"
    assert customer["to"] == lead.phone_e164 and customer["conference"] in agent_leg["twiml"]
    assert "/campaign/status" in customer["status_callback"]
    attempt = session.get(DialAttempt, placed.attempt_id)
    assert (attempt.path, attempt.call_sid, attempt.actor_id) == ("preview", customer_sid(provider), agent.id)
    assert agent_state.get_presence(r, agent.id).reason == "outbound"
    session.refresh(lead)
    assert (lead.status, lead.attempts) == ("dialing", 1)


def customer_sid(provider: RecordingProvider) -> str:
    return f"CP{len(provider.participants):032d}"
