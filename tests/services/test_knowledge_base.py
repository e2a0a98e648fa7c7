"""The knowledge base service: writing, full-text search (FTS5 on SQLite, tsvector on PostgreSQL, substrings for
Chinese), pop suggestions from the IVR's queue, and usage counts. Every test runs on both databases."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from callcenter.models import KbArticle, Queue, User
from callcenter.services import knowledge_base as kb
from callcenter.services.errors import Forbidden, NotFound, ValidationFailed


@pytest.fixture
def editor(factory):
    return factory.user("supervisor", team="Tier 1")


@pytest.fixture
def agent(factory):
    return factory.user("agent", team="Tier 1")


@pytest.fixture
def library(session, editor):
    """A few published articles in English and Chinese, and one draft."""
    make = lambda **values: kb.create_article(session, editor, {"status": "published", **values})  # noqa: E731
    return {
        "router": make(title="Router keeps rebooting", problem="The router restarts every few minutes.",
                       solution="Update the firmware, then reset the router to factory settings.",
                       category="Internet", tags=["router", "firmware", "wifi"]),
        "password": make(title="Reset a forgotten password", problem="The customer cannot sign in.",
                         solution="Send the password reset link from the account page.", category="Accounts",
                         tags=["login"]),
        "billing": make(title="Invoice shows a double charge", problem="Two charges for one month.",
                        solution="Refund the second charge; mention the router rental if it is on the invoice.",
                        category="Billing"),
        "chinese": make(title="重置密码后无法登录", problem="客户重置密码以后还是登录不了。",
                        solution="清除浏览器缓存，然后用新密码登录。", category="Accounts", tags=["登录"]),
        "draft": kb.create_article(session, editor, {"title": "Router recall (unreleased)",
                                                     "solution": "Do not tell customers yet."}),
    }


def titles(found):
    return [a.title for a in found[0]]


def test_english_search_matches_words_and_prefixes_and_ranks_title_hits_first(session, agent, library):
    # "router" is in one title and in another article's solution: the title hit ranks first.
    assert titles(kb.search(session, agent, "router")) == ["Router keeps rebooting", "Invoice shows a double charge"]
    # Every word must match; a word may be the start of one; case does not matter.
    assert titles(kb.search(session, agent, "RESET pass")) == ["Reset a forgotten password"]
    assert titles(kb.search(session, agent, "router refund")) == ["Invoice shows a double charge"]
    # Tags and categories are searchable too.
    assert titles(kb.search(session, agent, "firmware")) == ["Router keeps rebooting"]
    assert titles(kb.search(session, agent, "billing")) == ["Invoice shows a double charge"]
    assert kb.search(session, agent, "teleportation") == ([], 0)


def test_search_input_is_never_query_syntax(session, agent, library):
    for query in ['"', "router*", "NEAR(router", "router OR", "a & b | !c", "-router", "title:router", "((", "'"]:
        found, total = kb.search(session, agent, query)
        assert total == len(found)
    assert titles(kb.search(session, agent, "router*")) == titles(kb.search(session, agent, "router"))
    assert kb.search(session, agent, "  ") == ([], 0)


def test_chinese_search_matches_substrings_in_title_and_text(session, agent, library):
    assert titles(kb.search(session, agent, "密码")) == ["重置密码后无法登录"]
    assert titles(kb.search(session, agent, "浏览器缓存")) == ["重置密码后无法登录"]
    assert titles(kb.search(session, agent, "登录")) == ["重置密码后无法登录"]  # a tag and the title
    assert titles(kb.search(session, agent, "密码 缓存")) == ["重置密码后无法登录"]
    assert kb.search(session, agent, "发票") == ([], 0)
    assert kb.search(session, agent, "密码%")[1] == 0  # LIKE wildcards in the query are plain characters
    assert kb.search(session, agent, "密_")[1] == 0


def test_agents_never_find_drafts_editors_do(session, agent, editor, library):
    assert titles(kb.search(session, agent, "recall")) == []
    assert titles(kb.search(session, editor, "recall")) == ["Router recall (unreleased)"]
    with pytest.raises(NotFound):
        kb.get_article(session, agent, library["draft"].id)
    assert kb.get_article(session, editor, library["draft"].id).status == "draft"


def test_an_edit_is_searchable_at_once_and_the_old_text_is_gone(session, agent, editor, library):
    kb.update_article(session, editor, library["router"].id,
                      {"title": "Modem keeps rebooting", "tags": ["modem"], "category": None})
    assert titles(kb.search(session, agent, "modem")) == ["Modem keeps rebooting"]
    assert titles(kb.search(session, agent, "firmware")) == ["Modem keeps rebooting"]  # still in the solution
    assert titles(kb.search(session, agent, "wifi")) == []  # the old tag
    assert titles(kb.search(session, agent, "internet")) == []  # the old category
    assert library["router"].category is None and [t.name for t in library["router"].tags] == ["modem"]


def test_deleted_articles_leave_the_index(session, agent, library):
    session.delete(library["password"])
    session.commit()
    assert titles(kb.search(session, agent, "password")) == []


def test_only_admins_and_supervisors_write(session, agent, editor):
    with pytest.raises(Forbidden):
        kb.create_article(session, agent, {"title": "Mine"})
    with pytest.raises(ValidationFailed) as missing:
        kb.create_article(session, editor, {"title": "  "})
    assert missing.value.field == "title"
    with pytest.raises(ValidationFailed) as many:
        kb.create_article(session, editor, {"title": "Tagged", "tags": [f"t{n}" for n in range(30)]})
    assert many.value.field == "tags"


def test_pop_suggests_the_queues_articles_most_used_first_at_most_three(session, editor, factory):
    queues = factory.demo_line()
    support = kb.ensure_category(session, "Connectivity", queue_id=queues["Support"].id)
    session.commit()
    articles = [kb.create_article(session, editor, {"title": f"Fix {n}", "category": support.name,
                                                    "status": "published"}) for n in range(4)]
    kb.create_article(session, editor, {"title": "Unreleased fix", "category": support.name})
    kb.create_article(session, editor, {"title": "Sales pitch", "category": "Sales", "status": "published"})
    kb.record_use(session, articles[3].id, "sent")
    session.commit()

    suggested = kb.suggested_articles(session, queue_name="Support")
    assert suggested == [{"id": articles[3].id, "title": "Fix 3"}, {"id": articles[0].id, "title": "Fix 0"},
                         {"id": articles[1].id, "title": "Fix 1"}]
    assert kb.suggested_articles(session, queue_name="Billing") == []
    assert kb.suggested_articles(session, queue_name=None) == []
    # The open tickets' categories (when tickets carry one) come first.
    sales = session.scalar(sa.select(KbArticle).where(KbArticle.title == "Sales pitch"))
    assert kb.suggested_articles(session, queue_name="Support", ticket_categories=["Sales"])[0] == {
        "id": sales.id, "title": "Sales pitch"}


def test_uses_are_counted_by_kind_without_touching_the_edit_time(session, agent, library):
    article = library["router"]
    edited_at = article.updated_at
    kb.view_from_pop(session, agent, article.id)
    kb.record_use(session, article.id, "sent", user_id=agent.id)
    session.commit()
    session.refresh(article)
    assert article.usage_count == 2 and kb.uses(session, article.id) == {"viewed": 1, "sent": 1}
    assert article.updated_at == edited_at
    # Most used first in the list.
    assert kb.list_articles(session, agent)[0][0].id == article.id


def test_categories_link_to_existing_queues_only(session, editor, factory):
    with pytest.raises(ValidationFailed) as unknown:
        kb.ensure_category(session, "Ghosts", queue_id=999_999)
    assert unknown.value.field == "queue_id"
    queue = Queue(name="Ghost line")
    session.add(queue)
    session.commit()
    assert kb.ensure_category(session, "Ghosts", queue_id=queue.id).queue_id == queue.id


def test_the_demo_seeds_articles_the_pop_suggests_and_search_finds(session):
    from callcenter.seed import seed_demo

    seed_demo(session, contact_count=0)
    agent = session.scalar(sa.select(User).where(User.username == "alice"))
    assert [a["title"] for a in kb.suggested_articles(session, queue_name="Support")] == [
        "Router keeps rebooting", "No internet after a power cut", "重置密码后无法登录"]
    assert [a["title"] for a in kb.suggested_articles(session, queue_name="Billing")] == [
        "Invoice shows a double charge"]
    assert titles(kb.search(session, agent, "密码")) == ["重置密码后无法登录"]
    assert titles(kb.search(session, agent, "refund")) == ["Invoice shows a double charge"]
