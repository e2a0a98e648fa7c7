"""Preview dialling from the console: the agent sees the next lead with the campaign's script, skips one, dials the
next; the lead's phone rings after the agent's softphone; the call ends in wrap-up and the disposition decides the
lead (issue 10 part 3, preview)."""

from __future__ import annotations

from playwright.sync_api import expect
from sqlalchemy import select

from callcenter.models import (
    Call,
    Campaign,
    CampaignAgent,
    CampaignContact,
    CampaignDisposition,
    DialAttempt,
    Disposition,
)
from tests.browser.conftest import NUMBER, login, shot
from tests.support.servers import wait_until

ANA, BEN = "+14155550171", "+14155550172"


def test_an_agent_previews_skips_then_dials_a_lead_and_the_disposition_closes_it(
        app, session, factory, carrier, open_page, dispositions, request):
    alice = factory.user(username="alice")
    campaign = Campaign(name="Spring renewals", mode="preview", status="running", caller_id=NUMBER,
                        calling_hours_start="00:00", calling_hours_end="24:00",
                        script="Hello {first_name}, your plan {plan} renews soon.")
    campaign.agents = [CampaignAgent(user_id=alice.id)]
    session.add(campaign)
    session.flush()
    sale = session.scalar(select(Disposition).where(Disposition.code == "sale"))
    session.add(CampaignDisposition(campaign_id=campaign.id, disposition_id=sale.id, outcome="final"))
    leads = {}
    for phone, first, priority in ((ANA, "Ana", 10), (BEN, "Ben", 5)):
        contact = factory.contact(phones=(phone,), first_name=first, last_name="Rivera")
        lead = CampaignContact(campaign_id=campaign.id, contact_id=contact.id, phone_e164=phone, priority=priority,
                               custom_fields={"plan": f"Fibre {first}"})
        session.add(lead)
        leads[first] = lead
    session.commit()
    carrier.phone(BEN, answer="auto", ring_seconds=0.2)

    console = open_page("agent")
    login(console, "alice")
    expect(console.locator("#softphone-state")).to_have_text("Softphone ready")
    expect(console.locator("#preview-panel")).to_be_visible()
    console.click("#preview-next")
    expect(console.locator("#preview-name")).to_have_text("Ana Rivera")  # the higher priority first
    expect(console.locator("#preview-script")).to_contain_text("Hello Ana, your plan Fibre Ana renews soon.")
    console.click("#preview-skip")
    expect(console.locator("#preview-lead")).to_be_hidden()
    console.click("#preview-next")
    expect(console.locator("#preview-name")).to_have_text("Ben Rivera")
    shot(console, request, "01-preview")
    console.click("#preview-dial")

    expect(console.locator("#call-status")).to_have_text("On call")

    def ben_call():  # the softphone may answer before the server has committed the call's record
        session.expire_all()
        return session.scalar(select(Call).where(Call.to_number == BEN, Call.agent_id == alice.id))

    call = wait_until(ben_call, message="the call to Ben is recorded")
    attempt = session.scalar(select(DialAttempt).where(DialAttempt.campaign_contact_id == leads["Ben"].id))
    assert attempt.allowed and attempt.path == "preview" and attempt.placed_because
    carrier.hangup(call.call_sid)  # Ben hangs up

    expect(console.locator("#wrapup")).to_be_visible()
    console.select_option("#disposition", "sale")
    console.click("#wrapup-form button[type=submit]")
    expect(console.locator("#state-badge")).to_have_text("Available")
    shot(console, request, "02-after")

    def statuses():
        session.expire_all()
        return {name: (lead.status, lead.last_disposition) for name, lead in leads.items()}

    wait_until(lambda: statuses()["Ben"] == ("done", "sale"), message="the sale closes Ben's lead")
    assert statuses()["Ana"][0] == "pending"  # skipped: back in line later, no attempt counted
    assert session.get(CampaignContact, leads["Ana"].id).attempts == 0
