"""The real pacer in the dialer's loop: predictive campaigns are paced by services.pacer from the campaign's own dial
log and agents, each dial stores the pacer's reason, and the wallboard shows its figures."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from callcenter.models import DialAttempt
from callcenter.redis_conn import get_redis
from callcenter.services import agent_state, dialer, wallboard
from tests.outbound.test_dialer import RecordingProvider, urls

NOW = datetime(2026, 12, 1, 15, 0, tzinfo=UTC)


@pytest.fixture
def r(app):
    return get_redis(app)


def _history(session, campaign, *, dials: int, live: int, abandoned: int = 0) -> None:
    """Yesterday's dials of the campaign: `live` answered by a person (`abandoned` of them with no agent)."""
    at = NOW - timedelta(days=1)
    outcomes = ["abandoned"] * abandoned + ["answered"] * (live - abandoned) + ["no-answer"] * (dials - live)
    session.add_all(DialAttempt(phone_e164=f"+1415555{i:04d}", path="predictive", allowed=True,
                                campaign_id=campaign.id, at=at, outcome=outcome, outcome_at=at)
                    for i, outcome in enumerate(outcomes))
    session.commit()


def _ready(session, r, outbound, factory, agents: int = 3, leads: int = 40):
    people = [factory.user() for _ in range(agents)]
    campaign = outbound.campaign(mode="predictive", agents=people, max_abandon_rate=0.03)
    for _ in range(leads):
        outbound.lead(campaign)
    for person in people:
        agent_state.login(session, r, person.id, state=agent_state.AVAILABLE)
    session.commit()
    return campaign


def _settings():
    return dialer.DialSettings(caller_id="+18005550199", calls_per_second=100)  # pace: the real pacer


def test_a_cold_campaign_is_paced_like_progressive_and_each_dial_says_why(session, r, outbound, factory):
    campaign = _ready(session, r, outbound, factory)
    provider = RecordingProvider()

    run = dialer.dial_campaign(session, r, provider, campaign, NOW, urls, _settings())

    assert run.decision.lines == len(provider.placed) == 3  # no history yet: one line per idle agent
    reasons = set(session.scalars(select(DialAttempt.placed_because).where(DialAttempt.allowed.is_(True))))
    assert reasons == {run.decision.reason} and run.decision.reason.startswith("Cold start: 0 dials so far")
    [board] = wallboard.snapshot(session, r, now=NOW.timestamp())["campaigns"]
    assert board["lines_per_agent"] == run.decision.lines_per_agent
    assert board["predicted_abandon_rate"] is not None and board["predicted_abandon_rate"] <= 0.03


def test_with_a_low_answer_rate_behind_it_the_pacer_dials_more_lines_than_agents(session, r, outbound, factory):
    campaign = _ready(session, r, outbound, factory)
    _history(session, campaign, dials=400, live=80)  # 20 % answered by a person, nobody abandoned
    provider = RecordingProvider()

    run = dialer.dial_campaign(session, r, provider, campaign, NOW, urls, _settings())

    assert len(provider.placed) > 3
    assert run.decision.predicted_abandon_rate is not None and run.decision.predicted_abandon_rate <= 0.03


def test_above_its_abandon_target_the_pacer_backs_off_to_one_line_per_agent_or_fewer(session, r, outbound,
                                                                                      factory):
    campaign = _ready(session, r, outbound, factory)
    _history(session, campaign, dials=400, live=80, abandoned=8)  # 10 % of live answers abandoned
    provider = RecordingProvider()

    dialer.dial_campaign(session, r, provider, campaign, NOW, urls, _settings())

    assert len(provider.placed) <= 3
