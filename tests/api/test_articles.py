"""/api/v1/articles: who reads and writes, search, and sending an article by SMS (to the emulated carrier) and by
e-mail (an .eml file in the outbox when no SMTP server is set)."""

from __future__ import annotations

import email
from email import policy
from pathlib import Path

import pytest
from sqlalchemy import select

from callcenter.models import KbArticle, OutboundMessage
from callcenter.telephony.sim import get_carrier
from callcenter.telephony.sim.messaging import received_by
from tests.api.conftest import assert_error
from workers import messages as message_jobs

NUMBER = "+18005550100"
CALLER = "+14155550123"


@pytest.fixture
def app_config(app_config):
    # The carrier emulator in-process: texts really go through the SDK to its Messages resource.
    app_config.update(TELEPHONY_PROVIDER="sim", SIM_TRANSPORT="wsgi", SIM_PHONE_NUMBERS=[NUMBER],
                      OUTBOUND_CALLER_ID=NUMBER, MAIL_FROM="help@example.com")
    return app_config


@pytest.fixture
def supervisor(factory):
    return factory.user("supervisor", team="Tier 1")


@pytest.fixture
def agent(factory):
    return factory.user("agent", team="Tier 1")


@pytest.fixture
def article(client, supervisor, bearer):
    response = client.post("/api/v1/articles", headers=bearer(supervisor), json={
        "title": "Router keeps rebooting", "problem": "It restarts every few minutes.",
        "solution": "Update the firmware, then reset it to factory settings.", "category": "Internet",
        "tags": ["Router", "firmware", "router"], "status": "published"})
    assert response.status_code == 201, response.json
    return response.json


def test_supervisors_write_agents_read_published_articles(client, supervisor, agent, bearer, article):
    assert article["tags"] == ["firmware", "router"] and article["category"] == "Internet"
    assert article["created_by_id"] == supervisor.id and article["usage_count"] == 0
    assert_error(client.post("/api/v1/articles", headers=bearer(agent), json={"title": "Mine"}), 403)
    assert_error(client.post("/api/v1/articles", headers=bearer(supervisor), json={"title": ""}), 422, "title")
    assert_error(client.post("/api/v1/articles", headers=bearer(supervisor), json={"title": "x", "status": "live"}),
                 422, "status")

    draft = client.post("/api/v1/articles", headers=bearer(supervisor), json={"title": "Recall notice"}).json
    assert draft["status"] == "draft"
    assert_error(client.get(f"/api/v1/articles/{draft['id']}", headers=bearer(agent)), 404)
    assert [a["title"] for a in client.get("/api/v1/articles", headers=bearer(agent)).json["items"]] == [
        "Router keeps rebooting"]
    assert client.get("/api/v1/articles?status=draft", headers=bearer(supervisor)).json["total"] == 1

    patched = client.patch(f"/api/v1/articles/{draft['id']}", headers=bearer(supervisor),
                           json={"status": "published", "category": None, "tags": ["recall"]})
    assert patched.status_code == 200 and patched.json["status"] == "published" and patched.json["tags"] == ["recall"]
    assert patched.json["updated_by_id"] == supervisor.id
    assert_error(client.patch(f"/api/v1/articles/{draft['id']}", headers=bearer(agent), json={"title": "x"}), 403)
    assert_error(client.patch("/api/v1/articles/999999", headers=bearer(supervisor), json={"title": "x"}), 404)


def test_search_finds_english_and_chinese_articles(client, supervisor, agent, bearer, article):
    client.post("/api/v1/articles", headers=bearer(supervisor), json={
        "title": "重置密码后无法登录", "solution": "清除浏览器缓存，然后用新密码登录。", "status": "published"})
    found = client.get("/api/v1/articles/search?q=firm", headers=bearer(agent)).json
    assert [a["title"] for a in found["items"]] == ["Router keeps rebooting"] and found["total"] == 1
    found = client.get("/api/v1/articles/search", query_string={"q": "缓存"}, headers=bearer(agent)).json
    assert [a["title"] for a in found["items"]] == ["重置密码后无法登录"]
    assert client.get("/api/v1/articles?q=router", headers=bearer(agent)).json["total"] == 1
    assert_error(client.get("/api/v1/articles/search?q=", headers=bearer(agent)), 422, "q")


def test_an_article_viewed_from_the_pop_is_counted(client, agent, bearer, article):
    assert client.get(f"/api/v1/articles/{article['id']}", headers=bearer(agent)).json["usage_count"] == 0
    viewed = client.get(f"/api/v1/articles/{article['id']}?via=pop", headers=bearer(agent))
    assert viewed.status_code == 200 and viewed.json["usage_count"] == 1


def test_an_article_sent_by_sms_reaches_the_callers_phone_once(app, client, session, factory, agent, bearer,
                                                              article):
    call = factory.call(from_number=CALLER, to_number=NUMBER, agent_id=agent.id)
    sent = client.post(f"/api/v1/articles/{article['id']}/send", headers=bearer(agent),
                       json={"channel": "sms", "call_sid": call.call_sid})
    assert sent.status_code == 202, sent.json
    assert (sent.json["to"], sent.json["status"], sent.json["call_id"]) == (CALLER, "sent", call.id)
    texts = received_by(get_carrier(app), CALLER)
    assert [(m.from_, m.body) for m in texts] == [
        (NUMBER, "Router keeps rebooting\nUpdate the firmware, then reset it to factory settings.")]
    assert sent.json["provider_sid"] == texts[0].sid

    message_jobs.send_message(sent.json["id"])  # the job run again (a retry, a second worker): nothing more is sent
    assert len(received_by(get_carrier(app), CALLER)) == 1
    session.expire_all()
    assert session.get(KbArticle, article["id"]).usage_count == 1


def test_a_number_that_replied_stop_is_marked_and_refused_afterwards(app, client, agent, bearer, article):
    get_carrier(app).unsubscribed.add(CALLER)
    first = client.post(f"/api/v1/articles/{article['id']}/send", headers=bearer(agent),
                        json={"channel": "sms", "to": "(415) 555-0123"})
    assert first.status_code == 202 and first.json["status"] == "opted_out"
    assert_error(client.post(f"/api/v1/articles/{article['id']}/send", headers=bearer(agent),
                             json={"channel": "sms", "to": CALLER}), 409, "to")


def test_an_article_sent_by_email_without_smtp_is_an_eml_file_in_the_outbox(app, client, session, factory, agent,
                                                                            bearer, article):
    contact = factory.contact(first_name="Dana", last_name="Lee", email="dana@example.com", owner_id=agent.id)
    sent = client.post(f"/api/v1/articles/{article['id']}/send", headers=bearer(agent),
                       json={"channel": "email", "contact_id": contact.id})
    assert sent.status_code == 202 and sent.json["status"] == "sent" and sent.json["contact_id"] == contact.id
    files = list((Path(app.instance_path) / "outbox").glob("*.eml"))
    assert [f.name for f in files] == [f"message-{sent.json['id']}.eml"]
    mail = email.message_from_bytes(files[0].read_bytes(), policy=policy.default)
    assert mail["Message-ID"] == sent.json["provider_sid"]
    assert (mail["To"], mail["From"], mail["Subject"]) == ("dana@example.com", "help@example.com",
                                                           "Router keeps rebooting")
    assert "Update the firmware" in mail.get_content() and "It restarts" in mail.get_content()
    row = session.scalar(select(OutboundMessage).where(OutboundMessage.id == sent.json["id"]))
    assert (row.channel, row.sender_id, row.article_id) == ("email", agent.id, article["id"])


def test_sending_needs_a_recipient_and_a_published_article(client, supervisor, agent, bearer, article, factory):
    assert_error(client.post(f"/api/v1/articles/{article['id']}/send", headers=bearer(agent),
                             json={"channel": "sms"}), 422, "to")
    assert_error(client.post(f"/api/v1/articles/{article['id']}/send", headers=bearer(agent),
                             json={"channel": "sms", "to": "12"}), 422, "to")
    assert_error(client.post(f"/api/v1/articles/{article['id']}/send", headers=bearer(agent),
                             json={"channel": "email", "to": "not-an-address"}), 422, "to")
    # Texts go only where we may call (DIAL_ALLOWED_COUNTRIES): Jamaica's +1 876 is not one of them.
    assert_error(client.post(f"/api/v1/articles/{article['id']}/send", headers=bearer(agent),
                             json={"channel": "sms", "to": "+18765550123"}), 422, "to")
    nameless = factory.contact(first_name="No", last_name="Mail", owner_id=agent.id)
    assert_error(client.post(f"/api/v1/articles/{article['id']}/send", headers=bearer(agent),
                             json={"channel": "email", "contact_id": nameless.id}), 422, "to")
    assert_error(client.post(f"/api/v1/articles/{article['id']}/send", headers=bearer(agent),
                             json={"channel": "fax", "to": CALLER}), 422, "channel")
    assert_error(client.post(f"/api/v1/articles/{article['id']}/send", headers=bearer(agent),
                             json={"channel": "sms", "call_sid": "CA" + "9" * 32}), 404)
    draft = client.post("/api/v1/articles", headers=bearer(supervisor), json={"title": "Draft"}).json
    assert_error(client.post(f"/api/v1/articles/{draft['id']}/send", headers=bearer(supervisor),
                             json={"channel": "sms", "to": CALLER}), 409)
