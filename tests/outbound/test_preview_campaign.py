"""Preview through the carrier emulator: the agent sees the lead, dials it, talks to the person in a conference;
an unanswered preview call puts the lead back in line."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from callcenter.models import DialAttempt, utcnow
from callcenter.redis_conn import get_redis
from callcenter.services import agent_state, dialer
from callcenter.services.interactions import agent_identity
from callcenter.telephony import get_provider, links
from callcenter.telephony.sim.testing import sim_carrier
from tests.support.servers import wait_until
from workers.dialer import settings_from_app

__all__ = ["sim_carrier"]

NUMBER = "+18005550100"


@pytest.fixture
def app_config(app_config):
    # Speed 5, not 25: the agent's leg rings for 30 carrier seconds, which at 25 was 1.2 s of real time, and a slow
    # machine let it go unanswered before the test's softphone looked ("got no incoming call within 10.0s").
    app_config.update(TELEPHONY_PROVIDER="sim", SIM_TRANSPORT="wsgi", SIM_SPEED=5, SIM_PHONE_NUMBERS=[NUMBER],
                      DIAL_CALLS_PER_SECOND=50, DIAL_RING_TIMEOUT_SECONDS=20)
    return app_config


def _attempt(session, lead_id):
    session.expire_all()
    return session.scalar(select(DialAttempt).where(DialAttempt.campaign_contact_id == lead_id,
                                                    DialAttempt.allowed.is_(True)).order_by(DialAttempt.id.desc()))


def test_agent_previews_dials_and_talks_to_the_lead(app, session, factory, outbound, sim_carrier):
    r = get_redis(app)
    agent = factory.user()
    campaign = outbound.campaign(mode="preview", agents=[agent], caller_id="+18005550100")
    lead = outbound.lead(campaign, "+14155550301", first_name="Ola")
    agent_state.login(session, r, agent.id)
    session.commit()
    softphone = sim_carrier.client(agent_identity(agent.id))
    sim_carrier.phone(lead.phone_e164, answer="auto", ring_seconds=0.5)

    shown = dialer.reserve_preview(session, campaign, agent, utcnow())
    assert (shown.id, shown.status) == (lead.id, "reserved")
    placed = dialer.dial_preview(session, r, get_provider(app), agent=agent, lead_id=lead.id, now=utcnow(),
                                 urls=links.webhook_url, settings=settings_from_app())

    assert agent_state.get_presence(r, agent.id).reason == "outbound"  # no queue call meanwhile
    softphone.wait_for_incoming()
    softphone.accept()
    customer = sim_carrier.handle(placed.call_sid)
    customer.wait_for_status("in-progress")
    assert customer.call.from_ == "+18005550100"
    wait_until(lambda: _attempt(session, lead.id).outcome == "answered", message="the lead answered")
    session.refresh(lead)
    assert (lead.status, lead.agent_id, lead.attempts) == ("connected", agent.id, 1)
    attempt = _attempt(session, lead.id)
    assert (attempt.path, attempt.placed_because) == ("preview", f"preview: dialled by agent {agent.id}")

    customer.hangup()
    softphone.current.wait_ended()
    session.refresh(lead)
    assert lead.status == "connected"  # until the agent's disposition


def test_an_unanswered_preview_call_puts_the_lead_back(app, session, factory, outbound, sim_carrier):
    r = get_redis(app)
    agent = factory.user()
    campaign = outbound.campaign(mode="preview", agents=[agent], retry_minutes=20)
    lead = outbound.lead(campaign, "+14155550302")
    agent_state.login(session, r, agent.id)
    session.commit()
    softphone = sim_carrier.client(agent_identity(agent.id))
    # The lead's phone rings until it is declined, after the agent has accepted: with a fixed ring (it was 0.5 s)
    # a slow machine saw the busy lead end the agent's leg before the softphone was looked at.
    lead_phone = sim_carrier.answering_phone(lead.phone_e164)

    dialer.reserve_preview(session, campaign, agent, utcnow())
    dialer.dial_preview(session, r, get_provider(app), agent=agent, lead_id=lead.id, now=utcnow(),
                        urls=links.webhook_url, settings=settings_from_app())
    softphone.wait_for_incoming()
    softphone.accept()
    assert lead_phone.wait_for_incoming().reject()  # declined: busy

    wait_until(lambda: _attempt(session, lead.id).outcome == "busy", message="busy outcome")
    session.refresh(lead)
    assert (lead.status, lead.attempts, lead.last_result) == ("pending", 1, "busy")
    softphone.current.hangup()


def test_a_lead_left_on_an_absent_agents_screen_goes_back_in_line(session, factory, outbound):
    """Ana looks at the only lead and goes home; after 30 minutes Bo's "next" gets it, no attempt counted, and
    Ana's own lead is never taken from under her while she is still within the time."""
    ana, bo = factory.user(username="ana"), factory.user(username="bo")
    campaign = outbound.campaign(mode="preview", agents=[ana, bo])
    lead = outbound.lead(campaign, "+14155550388")
    start = utcnow()

    assert dialer.reserve_preview(session, campaign, ana, start).id == lead.id
    session.commit()
    assert dialer.reserve_preview(session, campaign, bo, start + timedelta(minutes=29)) is None
    session.commit()
    assert dialer.reserve_preview(session, campaign, ana, start + timedelta(minutes=29)).id == lead.id
    session.commit()

    taken = dialer.reserve_preview(session, campaign, bo, start + timedelta(minutes=31))
    session.commit()
    assert (taken.id, taken.status, taken.agent_id, taken.attempts) == (lead.id, "reserved", bo.id, 0)
    assert dialer.reserve_preview(session, campaign, ana, start + timedelta(minutes=32)) is None
