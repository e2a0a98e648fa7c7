"""Outbound campaigns: campaigns, leads and agents made directly with the models (the CRUD is another branch's)."""

from __future__ import annotations

import itertools
import math
from typing import Any

import pytest

from callcenter.models import Campaign, CampaignAgent, CampaignContact, CampaignDisposition, Disposition, Queue
from callcenter.services import pacer
from callcenter.services.messages import t

_numbers = itertools.count(1000)


class Outbound:
    """Small factories for campaigns and their leads."""

    def __init__(self, session, factory) -> None:
        self.session = session
        self.factory = factory

    def campaign(self, *, agents: tuple = (), queue: Queue | None = None, **values: Any) -> Campaign:
        values.setdefault("name", f"Campaign {next(_numbers)}")
        values.setdefault("mode", "predictive")
        values.setdefault("status", "running")
        values.setdefault("calling_hours_start", "00:00")
        values.setdefault("calling_hours_end", "24:00")  # no calling window: tests run at any hour
        values.setdefault("caller_id", "+18005550100")
        campaign = Campaign(queue_id=queue.id if queue is not None else None, **values)
        campaign.agents = [CampaignAgent(user_id=agent.id) for agent in agents]
        self.session.add(campaign)
        self.session.commit()
        return campaign

    def lead(self, campaign: Campaign, phone: str | None = None, *, first_name: str = "Lee",
             last_name: str | None = None, **values: Any) -> CampaignContact:
        phone = phone or f"+1415555{next(_numbers) % 10000:04d}"
        contact = self.factory.contact(phones=(phone,), first_name=first_name,
                                       last_name=last_name or f"Lead{phone[-4:]}")
        lead = CampaignContact(campaign_id=campaign.id, contact_id=contact.id, phone_e164=phone, **values)
        self.session.add(lead)
        self.session.commit()
        return lead

    def disposition(self, campaign: Campaign, code: str, outcome: str,
                    retry_after_minutes: int | None = None) -> Disposition:
        disposition = Disposition(code=code, label=code.replace("_", " ").title())
        self.session.add(disposition)
        self.session.flush()
        self.session.add(CampaignDisposition(campaign_id=campaign.id, disposition_id=disposition.id,
                                             outcome=outcome, retry_after_minutes=retry_after_minutes))
        self.session.commit()
        return disposition


@pytest.fixture
def outbound(session, factory) -> Outbound:
    return Outbound(session, factory)


def over_dial(ratio: float):
    """A fixed pacing policy for tests that need more lines than agents on purpose (to reach the abandon path or
    fill the lines of one pass): `ratio` lines per idle agent minus the lines ringing, whatever the statistics.
    Production paces predictive campaigns with services.pacer.decide (tests/outbound/test_pacer_in_the_dialer.py)."""

    def pace(inputs: pacer.PacerInputs) -> pacer.PacerDecision:
        wanted = math.floor(ratio * inputs.agents_available)
        lines = max(wanted - inputs.lines_ringing, 0)
        reason = t("%(idle)s idle agent(s) x dial ratio %(ratio)s = %(wanted)s line(s), %(ringing)s in flight -> "
                   "%(lines)s new", idle=inputs.agents_available, ratio=f"{ratio:g}", wanted=wanted,
                   ringing=inputs.lines_ringing, lines=lines)
        return pacer.PacerDecision(lines_to_dial=lines, lines_per_agent=ratio, predicted_abandon_rate=0.0,
                                   abandon_limit=inputs.abandon_target, reason=reason)

    return pace
