"""Every rule of the dialing gate refuses on each campaign path (preview, progressive, predictive): nothing reaches
the carrier, the refusal is stored with its reason and path, and the lead is blocked, put off or closed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from callcenter.models import DialAttempt, DoNotCall
from callcenter.redis_conn import get_redis
from callcenter.services import agent_state, dialer, dialing_gate
from tests.outbound.conftest import over_dial
from tests.outbound.test_dialer import RecordingProvider, urls

NOW = datetime(2026, 12, 1, 15, 0, tzinfo=UTC)  # 07:00 in San Francisco, 10:00 in New York
SF = "+14155550123"


def _dnc(session, source):
    session.add(DoNotCall(phone_e164=SF, source=source, reason="asked"))


def _earlier_dials(session, count, outcome=None, hours_ago=1):
    at = NOW - timedelta(hours=hours_ago)
    session.add_all(DialAttempt(phone_e164=SF, path="click_to_call", allowed=True, outcome=outcome, at=at,
                                outcome_at=at if outcome else None) for _ in range(count))


# rule -> (reason, how to provoke it: (session, campaign) -> None, number of the lead, the lead afterwards)
RULES = {
    "internal do-not-call": (dialing_gate.DNC_INTERNAL, lambda s, c: _dnc(s, "internal"), SF, "blocked"),
    "imported do-not-call": (dialing_gate.DNC_IMPORTED, lambda s, c: _dnc(s, "imported"), SF, "blocked"),
    "country not allowed": (dialing_gate.COUNTRY_NOT_ALLOWED, lambda s, c: None, "+18765550123", "blocked"),
    "premium rate": (dialing_gate.PREMIUM_RATE, lambda s, c: None, "+19005550123", "blocked"),
    "consent required": (dialing_gate.CONSENT_REQUIRED, lambda s, c: setattr(c, "requires_consent", True), SF,
                         "blocked"),
    "outside the calling window": (dialing_gate.OUTSIDE_CALLING_WINDOW,
                                   lambda s, c: (setattr(c, "calling_hours_start", "09:00"),
                                                 setattr(c, "calling_hours_end", "20:00")), SF, "pending"),
    "abandon lock-out": (dialing_gate.ABANDON_LOCKOUT, lambda s, c: _earlier_dials(s, 1, "abandoned"), SF,
                         "pending"),
    "daily cap": (dialing_gate.DAILY_CAP, lambda s, c: _earlier_dials(s, 3), SF, "pending"),
}


@pytest.fixture
def r(app):
    return get_redis(app)


@pytest.mark.parametrize("mode", ["preview", "progressive", "predictive"])
@pytest.mark.parametrize("rule", list(RULES))
def test_each_rule_refuses_on_each_campaign_path(session, r, outbound, factory, mode, rule):
    reason, provoke, number, lead_after = RULES[rule]
    agent = factory.user()
    campaign = outbound.campaign(mode=mode, agents=[agent])
    lead = outbound.lead(campaign, number)
    provoke(session, campaign)
    session.commit()
    agent_state.login(session, r, agent.id, state=agent_state.AVAILABLE)
    session.commit()
    provider = RecordingProvider()
    settings = dialer.DialSettings(caller_id="+18005550199", calls_per_second=100, pace=over_dial(1),
                                   join_twiml=lambda name, end: f"<Response><Dial><Conference>{name}</Conference>"
                                                                "</Dial></Response>")

    if mode == "preview":
        assert dialer.reserve_preview(session, campaign, agent, NOW).id == lead.id
        session.commit()
        with pytest.raises(dialing_gate.DialRefused) as refused:
            dialer.dial_preview(session, r, provider, agent=agent, lead_id=lead.id, now=NOW, urls=urls,
                                settings=settings)
        assert refused.value.decision.reason == reason and refused.value.message  # what the agent reads
    else:
        run = dialer.dial_campaign(session, r, provider, campaign, NOW, urls, settings)
        assert [placed.refused for placed in run.placed] == [reason]

    assert provider.placed == [] and provider.participants == []
    row = session.scalar(select(DialAttempt).where(DialAttempt.campaign_contact_id == lead.id))
    assert (row.allowed, row.reason, row.path, row.campaign_id) == (False, reason, mode, campaign.id)
    session.expire_all()
    assert session.get(type(lead), lead.id).status == lead_after
