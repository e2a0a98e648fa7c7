"""People admin in a real browser (CSRF on): an admin creates an agent with a generated password, the agent signs in
with it, the admin deactivates them and their open page is signed out; a token is issued and revoked."""

from __future__ import annotations

from playwright.sync_api import expect

from tests.browser.conftest import login, shot


def test_an_admin_creates_deactivates_and_manages_tokens(app, factory, open_page, request):
    factory.user(role="admin", username="root")
    factory.user(username="ann", team="North")

    admin = open_page("admin")
    login(admin, "root")
    admin.goto("/audit")
    admin.click("text=Users and teams")
    expect(admin.locator("#users tr[data-username=ann]")).to_have_count(1)
    admin.click("#new-user")
    admin.fill("#username", "nina")
    admin.fill("#full_name", "Nina Simone")
    admin.select_option("#team_id", label="North")
    admin.click("#create")
    password = admin.locator("#secret").inner_text().strip()
    assert len(password) >= 16
    shot(admin, request, "01-created")

    agent = open_page("agent")  # signs in to the profile page: no console socket to lose meanwhile
    agent.goto("/login?next=/profile")
    agent.fill("input[name=username]", "nina")
    agent.fill("input[name=password]", password)
    agent.click("button[type=submit]")
    expect(agent.locator("main h1")).to_have_text("Profile")

    admin.click("text=Back to nina")
    admin.click("#set-active button[type=submit]")
    expect(admin.locator(".flash.info")).to_contain_text("nina is deactivated")
    agent.reload()
    expect(agent.locator("input[name=username]")).to_be_visible()  # signed out: the login form

    admin.goto("/admin/people/tokens")
    admin.select_option("#user_id", label="ann")
    admin.fill("#token-name", "crm sync")
    admin.click("#issue")
    assert admin.locator("#secret").inner_text().strip().startswith("cc_")
    admin.click("text=Back to API tokens")
    row = admin.locator("#tokens tbody tr").first
    expect(row).to_contain_text("crm sync")
    row.locator("button", has_text="Revoke").click()
    expect(admin.locator(".flash.info")).to_contain_text("crm sync is revoked")
    shot(admin, request, "02-revoked")
