"""Campaign pages: who may open them, the edit form's refusals, start/pause/stop buttons, and the import flow."""

from __future__ import annotations

import io
from html.parser import HTMLParser

import pytest
from sqlalchemy import select

from callcenter.models import Campaign, CampaignContact, Disposition, ListImport


class Marks(HTMLParser):
    """Rows of the campaign list and the report, and alerts."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.campaigns: dict[str, str] = {}
        self.report: list[tuple[int, str]] = []
        self.alerts = 0
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        values = dict(attrs)
        if tag == "tr" and "data-campaign" in values:
            self.campaigns[values["data-campaign"]] = values["data-status"]
        if tag == "tr" and "data-line" in values:
            self.report.append((int(values["data-line"]), values["data-code"]))
        if values.get("role") == "alert":
            self.alerts += 1


@pytest.fixture
def app_config(app_config):
    app_config["CALLER_IDS"] = ["+18005550100"]
    return app_config


@pytest.fixture
def supervisor(factory, auth):
    user = factory.user("supervisor")
    auth.login(user.username)
    return user


FORM = {"name": "Winback", "mode": "preview", "caller_id": "+18005550100", "calling_hours_start": "09:00",
        "calling_hours_end": "20:00", "max_attempts": "3", "retry_minutes": "60", "default_region": "US",
        "max_abandon_rate": "0.03", "abandon_window_days": "30", "dial_ratio": "1", "script": "Hi {first_name}",
        "voicemail_drop_text": "", "identification_text": "", "queue_id": "", "team_id": ""}


def test_agents_are_refused(client, auth, factory):
    agent = factory.user("agent")
    auth.login(agent.username)
    assert client.get("/campaigns").status_code == 403
    assert client.get("/campaigns/new").status_code == 403


def test_anonymous_users_go_to_login(client):
    assert client.get("/campaigns").status_code in (302, 401)


def test_create_then_start_pause_stop(client, supervisor, factory, session):
    session.add(Disposition(code="sale", label="Sale"))
    session.commit()
    agent = factory.user("agent")
    saved = client.post("/campaigns/new", data={**FORM, "agent_ids": [str(agent.id)], "rule_code": ["sale"],
                                                "rule_outcome_sale": "final"})
    assert saved.status_code == 302
    campaign = session.scalar(select(Campaign))
    assert ([a.user_id for a in campaign.agents], campaign.dispositions[0].outcome) == ([agent.id], "final")

    for action, status in (("start", "running"), ("pause", "paused"), ("start", "running"), ("stop", "finished")):
        assert client.post(f"/campaigns/{campaign.id}/{action}").status_code == 302
        page = Marks(client.get("/campaigns").get_data(as_text=True))
        assert page.campaigns == {str(campaign.id): status}
    client.post(f"/campaigns/{campaign.id}/pause")
    refused = client.get("/campaigns").get_data(as_text=True)
    assert "A finished campaign cannot be paused" in refused


@pytest.mark.parametrize(("changes", "message"), [
    ({"calling_hours_start": "9am"}, "Write the time as HH:MM"),
    ({"max_attempts": "many"}, "max_attempts must be a number"),
    ({"caller_id": "+19995550000"}, "must be one of our numbers"),
])
def test_the_form_says_what_is_wrong(client, supervisor, changes, message):
    answer = client.post("/campaigns/new", data={**FORM, **changes})
    assert answer.status_code == 422
    assert message in answer.get_data(as_text=True)
    assert Marks(answer.get_data(as_text=True)).alerts >= 1


def test_upload_check_then_import(client, supervisor, session):
    client.post("/campaigns/new", data=FORM)
    campaign = session.scalar(select(Campaign))
    csv = "phone,first name,plan\n(415) 555-0101,Ada,gold\nbad,Bob,x\n(415) 555-0102,Alan,silver\n"
    uploaded = client.post(f"/campaigns/{campaign.id}/import",
                           data={"file": (io.BytesIO(csv.encode()), "leads.csv")},
                           content_type="multipart/form-data")
    assert uploaded.status_code == 302
    entry = session.scalar(select(ListImport))
    url = f"/campaigns/{campaign.id}/import/{entry.id}"
    mapping = {"column": ["phone", "first name", "plan"], "field_phone": "phone", "field_first name": "first_name",
               "field_plan": "custom", "custom_plan": "plan"}

    checked = client.post(url, data={**mapping, "all_or_nothing": "y", "action": "check"})
    assert Marks(checked.get_data(as_text=True)).report == [(3, "invalid_phone")]
    assert session.scalar(select(CampaignContact)) is None

    done = client.post(url, data={**mapping, "action": "import"})  # all-or-nothing unticked
    assert done.status_code == 302
    session.expire_all()  # the job wrote through its own session; the test shares the requests' one
    progress = client.get(f"{url}/progress").get_json()
    assert progress["imported_rows"] == 2, progress
    leads = session.scalars(select(CampaignContact).order_by(CampaignContact.id)).all()
    assert [(lead.phone_e164, lead.custom_fields) for lead in leads] == [("+14155550101", {"plan": "gold"}),
                                                                       ("+14155550102", {"plan": "silver"})]
