"""The import's progress bar: with jobs on RQ (not inline), the page polls while the import waits for a worker,
and shows the result by itself once a worker has run it."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect
from rq import Queue, SimpleWorker

from callcenter.redis_conn import get_redis
from callcenter.services import campaigns
from tests.browser.conftest import login, shot


@pytest.fixture
def app_config(app_config):
    app_config["JOBS_INLINE"] = False
    return app_config


def test_the_progress_bar_follows_the_job(app, session, factory, live_server, open_page, request, tmp_path):
    admin = factory.user("admin", username="root")
    campaign = campaigns.create_campaign(session, admin, {"name": "Autumn"}, allowed_caller_ids=[])
    upload = tmp_path / "autumn.csv"
    upload.write_text("phone\n" + "\n".join(f"(415) 555-{n:04d}" for n in range(300)) + "\n", encoding="utf-8")

    page = open_page("admin")
    login(page, "root")
    page.goto(f"/campaigns/{campaign.id}/import")
    page.set_input_files("input[type=file]", str(upload))
    page.click("#upload")
    page.click("#import")
    expect(page.locator("#import-progress")).to_be_visible()  # queued: nobody has run it yet
    expect(page.locator("#progress-text")).to_have_text("0 / 300")
    shot(page, request, "waiting")

    r = get_redis(app)
    SimpleWorker([Queue("default", connection=r)], connection=r).work(burst=True)

    expect(page.locator("#import-result")).to_have_attribute("data-imported", "300")  # the page reloaded itself
    expect(page.locator("#lead-count")).to_have_attribute("data-total", "300")
