"""The knowledge base pages: everyone signed in reads and searches published articles; admins and supervisors write
them and link categories to queues."""

from __future__ import annotations

from html.parser import HTMLParser

import pytest
from sqlalchemy import select

from callcenter.models import KbArticle, KbCategory
from callcenter.services import knowledge_base


class Listed(HTMLParser):
    """The article ids a page lists (`li[data-article]`), its alerts, and the categories it shows."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.articles: list[int] = []
        self.categories: list[str] = []
        self.alerts = 0
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        values = dict(attrs)
        if tag == "li" and "data-article" in values:
            self.articles.append(int(values["data-article"]))
        if tag == "li" and "data-category" in values:
            self.categories.append(values["data-category"])
        if values.get("role") == "alert":
            self.alerts += 1


@pytest.fixture
def articles(session, factory):
    editor = factory.user("supervisor")
    make = knowledge_base.create_article
    return {
        "router": make(session, editor, {"title": "Router keeps rebooting", "solution": "Update the firmware.",
                                         "status": "published", "tags": ["router"]}),
        "chinese": make(session, editor, {"title": "重置密码后无法登录", "solution": "清除浏览器缓存。",
                                          "status": "published"}),
        "draft": make(session, editor, {"title": "Router recall", "solution": "Not yet."}),
    }


def test_agents_list_search_and_read_published_articles_only(client, auth, factory, articles):
    auth.login(factory.user("agent").username)
    listed = Listed(client.get("/kb").get_data(as_text=True))
    assert sorted(listed.articles) == sorted([articles["router"].id, articles["chinese"].id])
    assert Listed(client.get("/kb?q=router").get_data(as_text=True)).articles == [articles["router"].id]
    assert Listed(client.get("/kb", query_string={"q": "缓存"}).get_data(as_text=True)).articles == [
        articles["chinese"].id]
    page = client.get(f"/kb/{articles['router'].id}")
    assert page.status_code == 200 and "Update the firmware." in page.get_data(as_text=True)
    assert client.get(f"/kb/{articles['draft'].id}").status_code == 404
    assert client.get("/kb/new").status_code == 403
    assert client.post(f"/kb/{articles['router'].id}/edit", data={"title": "Mine"}).status_code == 403


def test_signed_out_readers_are_sent_to_sign_in(client, articles):
    assert client.get("/kb").status_code in (302, 401)


def test_a_supervisor_writes_edits_and_links_a_category_to_a_queue(client, auth, session, factory):
    queues = factory.demo_line()
    auth.login(factory.user("supervisor").username)
    refused = client.post("/kb/new", data={"title": "", "status": "published"})
    assert refused.status_code == 422 and Listed(refused.get_data(as_text=True)).articles == []

    created = client.post("/kb/new", data={"title": "Router keeps rebooting", "solution": "Update the firmware.",
                                           "category": "Connectivity", "tags": "Router, firmware",
                                           "status": "published"})
    assert created.status_code == 302
    article = session.scalar(select(KbArticle).where(KbArticle.title == "Router keeps rebooting"))
    assert sorted(t.name for t in article.tags) == ["firmware", "router"] and article.category.name == "Connectivity"

    edited = client.post(f"/kb/{article.id}/edit", data={"title": "Modem keeps rebooting", "solution": "Update it.",
                                                          "category": "Connectivity", "tags": "modem",
                                                          "status": "published"})
    assert edited.status_code == 302
    session.expire_all()
    assert [a.title for a in knowledge_base.search(session, factory.user("agent"), "modem")[0]] == [
        "Modem keeps rebooting"]
    form = client.get(f"/kb/{article.id}/edit").get_data(as_text=True)
    assert 'value="Connectivity"' in form and 'value="modem"' in form

    linked = client.post("/kb/categories", data={"category-name": "Connectivity",
                                                 "category-queue_id": str(queues["Support"].id)})
    assert linked.status_code == 302
    assert session.scalar(select(KbCategory).where(KbCategory.name == "Connectivity")).queue_id == queues["Support"].id
    assert Listed(client.get("/kb").get_data(as_text=True)).categories == ["Connectivity"]
    assert knowledge_base.suggested_articles(session, queue_name="Support") == [
        {"id": article.id, "title": "Modem keeps rebooting"}]
