"""Acceptance: an admin sets up a new queue in the browser and the next caller who picks it reaches the agent
the admin gave its skill to — in one running server, no restart."""

from __future__ import annotations

import yaml
from playwright.sync_api import expect
from sqlalchemy import select

from callcenter.models import AuditEntry, Queue, Skill
from callcenter.redis_conn import get_redis
from callcenter.services import agent_state
from tests.browser.conftest import NUMBER, login, shot
from tests.support.servers import wait_until

DANA = "+14155550100"
WARRANTY_PROMPT = "For warranty repairs, press 4."


def test_admin_sets_up_a_queue_and_a_caller_who_picks_it_reaches_the_skilled_agent(
        app, session, factory, carrier, open_page, request):
    factory.demo_line()  # Sales, Support, Billing and the main line's flow; nobody holds their skills
    alice = factory.user(username="alice", team="Repairs")
    factory.user(role="admin", username="ada")
    r = get_redis(app)

    # Alice is already at work, available, holding no skill at all.
    console = open_page("agent")
    login(console, "alice")
    expect(console).to_have_url("/console")
    expect(console.locator("#connection")).to_have_text("Connected")
    expect(console.locator("#softphone-state")).to_have_text("Softphone ready")
    console.select_option("#state-select", "available")
    expect(console.locator("#state-badge")).to_have_text("Available")

    # The admin finds the administration pages from the back-office navigation and creates the skill.
    admin = open_page("admin")
    login(admin, "ada")
    admin.goto("/audit")
    admin.click("nav.crumbs a:text-is('Administration')")
    expect(admin).to_have_url("/admin/")
    admin.click("#admin-sections a:text-is('Skills')")
    admin.fill("#name", "warranty")
    admin.click("#skill-form button[type=submit]")
    expect(admin.locator("h1")).to_have_text("Skill warranty")
    skill = session.scalar(select(Skill).where(Skill.name == "warranty"))

    # ... then the queue needing it, open around the clock.
    admin.goto("/admin/")
    admin.click("#admin-sections a:text-is('Queues')")
    admin.click("#new-queue")
    admin.fill("#name", "Warranty")
    admin.fill("#time_zone", "Europe/Berlin")
    for day in ("mon", "tue", "wed", "thu", "fri", "sat", "sun"):
        admin.fill(f"#hours_{day}", "00:00-24:00")
    admin.check(f"#skill-{skill.id}")
    admin.fill(f"input[name=skill_{skill.id}_level]", "3")
    admin.fill("#script", "Ask for the serial number first.")
    admin.click("#save-queue")
    expect(admin.locator(".flash.info")).to_contain_text("Queue Warranty created.")
    shot(admin, request, "01-queue-created")

    # ... gives Alice the skill on the skill page ...
    admin.goto("/admin/skills")
    admin.click('tr[data-skill="warranty"] a')
    admin.select_option("#user_id", label=f"{alice.full_name} (alice)")
    admin.fill("#level", "5")
    admin.click("#holder-form button[type=submit]")
    expect(admin.locator('#holders tr[data-user="alice"]')).to_be_visible()
    shot(admin, request, "02-skill-given")

    # ... and publishes a menu option to the queue in the IVR flow editor.
    admin.goto("/admin/")
    admin.click("#admin-sections a:text-is('IVR flows')")
    admin.click(f'tr[data-number="{NUMBER}"] a >> nth=0')
    definition = yaml.safe_load(admin.locator("textarea#definition").input_value())
    main = definition["nodes"]["main"]
    main["prompt"] = f"{main['prompt']} {WARRANTY_PROMPT}"
    main["choices"].append({"key": "4", "speech": ["warranty", "repair"], "queue": "Warranty"})
    admin.fill("textarea#definition", yaml.safe_dump(definition, allow_unicode=True, sort_keys=False))
    admin.click("button:text-is('Validate and save')")
    expect(admin.locator("h1")).to_contain_text(f"{NUMBER}, version 2")
    shot(admin, request, "03-flow-published")

    # A caller hears the new option, picks it, and Alice's console is offered the call.
    caller = carrier.dial(DANA, NUMBER)
    caller.wait_for_say(WARRANTY_PROMPT)
    caller.press("4")
    offer = console.locator("#offer-card")
    expect(offer).to_be_visible()
    expect(console.locator("#offer-queue")).to_contain_text("Warranty")
    shot(console, request, "04-offer")
    console.click("#accept")
    expect(console.locator("#call-status")).to_have_text("On call")
    # The softphone shows "On call" once its leg connects; the ACD moves Alice in the answer webhook, which the
    # carrier fetches on its own schedule, so wait for it rather than assume it came first.
    wait_until(lambda: agent_state.get_presence(r, alice.id).state == "on_call", message="alice is on the call")
    console.keyboard.press("Alt+H")
    caller.wait_ended()

    session.expire_all()
    queue = session.scalar(select(Queue).where(Queue.name == "Warranty"))
    assert [(s.skill_id, s.min_level) for s in queue.skills] == [(skill.id, 3)]
    actions = set(session.scalars(select(AuditEntry.action)))
    assert {"skill.created", "queue.created", "user.skills_changed", "ivr_flow.updated"} <= actions
