"""An admin creates a campaign, uploads a CSV with one bad row, reads the per-row report, switches to partial
import, imports, and sees the leads count."""

from __future__ import annotations

from playwright.sync_api import expect
from sqlalchemy import select

from callcenter.models import Campaign, CampaignContact
from tests.browser.conftest import login, shot

CSV = """Phone,First name,Last name,Plan
(415) 555-0101,Ada,Lovelace,gold
call me maybe,Bad,Row,none
(415) 555-0102,Alan,Turing,silver
+1 415 555 0103,Grace,Hopper,gold
"""


def test_admin_imports_a_list_with_one_bad_row(session, factory, live_server, open_page, request, tmp_path):
    factory.user("admin", username="root")
    page = open_page("admin")
    login(page, "root")
    page.click("#campaigns-link")  # from the header of the page an admin lands on
    expect(page).to_have_url("/campaigns")
    page.click("#new-campaign")
    page.fill("#name", "Spring renewals")
    page.select_option("#mode", "progressive")
    page.fill("#script", "Hello {first_name}, about your {Plan} plan")
    page.click("#save")
    expect(page.locator("#campaigns tr[data-status=draft]")).to_have_count(1)

    page.locator("#campaigns tr", has_text="Spring renewals").get_by_role("link", name="Import a list").click()
    upload = tmp_path / "spring.csv"
    upload.write_text(CSV, encoding="utf-8")
    page.set_input_files("input[type=file]", str(upload))
    page.click("#upload")
    expect(page.locator("#mapping tbody tr")).to_have_count(4)
    expect(page.locator("#all_or_nothing")).to_be_checked()

    page.click("#check")
    bad = page.locator("#report tr[data-line='3']")
    expect(bad).to_contain_text("'call me maybe' is not a possible phone number")
    expect(page.locator("#dry-run-summary")).to_have_attribute("data-would-import", "0")
    shot(page, request, "report")

    page.uncheck("#all_or_nothing")
    page.click("#import")
    expect(page.locator("#import-result")).to_have_attribute("data-imported", "3")
    expect(page.locator("#report tr[data-line='3']")).to_have_count(1)  # still says which row was left out
    expect(page.locator("#lead-count")).to_have_attribute("data-total", "3")
    shot(page, request, "imported")

    page.goto("/campaigns")
    expect(page.locator("#campaigns tr", has_text="Spring renewals").locator("td.pending")).to_have_text("3")
    session.expire_all()
    campaign = session.scalar(select(Campaign).where(Campaign.name == "Spring renewals"))
    leads = session.scalars(select(CampaignContact).where(CampaignContact.campaign_id == campaign.id)).all()
    assert sorted(lead.custom_fields["Plan"] for lead in leads) == ["gold", "gold", "silver"]
