"""The knowledge base: problem -> solution articles, their full-text search, pop suggestions and usage.

Search is one function over two backends, with the same semantics and the same answer (articles, best first):
every word of the query must appear, as a word or the start of one ("pass" finds "password"), in the title, the
problem, the solution, the category or a tag; title hits weigh more; ties go to the most used article.

- SQLite: an FTS5 table (unicode61 tokenizer) over `title` and `search_document`, ranked by bm25.
- PostgreSQL: a stored generated column `to_tsvector('simple', ...)` (weights A for the title, B for the rest)
  with a GIN index, queried with `to_tsquery('simple', 'word:* & ...')` built from the query's words (never from
  raw user syntax, so no query is a syntax error) and ranked by ts_rank.

Chinese (and Japanese, Korean) text has no spaces between words, so neither tokenizer finds "密码" inside
"重置密码后无法登录": a query holding such characters is matched as substrings instead (every space-separated piece
must occur, LIKE on both backends; title hits first). A knowledge base is thousands of articles, not millions, so
the scan is cheap; FTS5's trigram tokenizer would index it but not two-character words, the common case in Chinese.

`search_document` is written here on every change (never by the caller), which keeps both indexes in step: the
FTS5 table through triggers made by the migration, the GIN index by PostgreSQL itself.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import Float, Integer, Select, case, column, func, literal_column, or_, select, text, update
from sqlalchemy.orm import Session, selectinload

from callcenter.models import KbArticle, KbArticleUse, KbCategory, KbTag, Queue, Role, User
from callcenter.models.knowledge import ARTICLE_STATUSES, SQLITE_FTS_TABLE, USE_KINDS
from callcenter.services import audit, config_cache
from callcenter.services.errors import Forbidden, NotFound, ValidationFailed
from callcenter.services.messages import t

EDITOR_ROLES = (Role.ADMIN.value, Role.SUPERVISOR.value)
SUGGESTIONS = 3
MAX_TAGS = 20
MAX_QUERY_WORDS = 12
ARTICLE_FIELDS = ("title", "problem", "solution", "status")
# PostgreSQL's generated tsvector column (migration 0009; not a model column, being PostgreSQL's alone).
PG_DOCUMENT = "kb_articles.search_vector"
_WORD = re.compile(r"[^\W_]+")  # letters and digits: what both tokenizers call a word


def is_editor(user: User) -> bool:
    """Admins and supervisors write articles and see drafts; agents read published ones."""
    return user.role in EDITOR_ROLES


def _require_editor(actor: User) -> None:
    if not is_editor(actor):
        raise Forbidden(t("Only admins and supervisors may write knowledge base articles"))


def _visible(actor: User) -> Any:
    return KbArticle.status.in_(ARTICLE_STATUSES) if is_editor(actor) else KbArticle.status == "published"


# ---- writing ------------------------------------------------------------------------------------------------


def normalise_tags(tags: Iterable[str]) -> list[str]:
    """Lower-cased, trimmed, unique tags in the order given."""
    seen: list[str] = []
    for raw in tags:
        tag = " ".join(str(raw).split()).lower()
        if tag and tag not in seen:
            seen.append(tag)
    if len(seen) > MAX_TAGS:
        raise ValidationFailed(t("At most %(count)s tags", count=MAX_TAGS), field="tags")
    for tag in seen:
        if len(tag) > 40:
            raise ValidationFailed(t("A tag has at most 40 characters"), field="tags")
    return seen


def _tags(session: Session, names: Sequence[str]) -> list[KbTag]:
    existing = {tag.name: tag for tag in session.scalars(select(KbTag).where(KbTag.name.in_(names)))} if names else {}
    tags = []
    for name in names:
        tag = existing.get(name)
        if tag is None:
            tag = KbTag(name=name)
            session.add(tag)
        tags.append(tag)
    return tags


def ensure_category(session: Session, name: str, queue_id: int | None = None) -> KbCategory:
    """The category called `name` (made when missing); `queue_id`, when given, links it to that queue."""
    clean = " ".join((name or "").split())
    if not clean or len(clean) > 80:
        raise ValidationFailed(t("A category name has 1 to 80 characters"), field="category")
    category = session.scalar(select(KbCategory).where(KbCategory.name == clean))
    if category is None:
        category = KbCategory(name=clean)
        session.add(category)
    if queue_id is not None:
        if session.get(Queue, queue_id) is None:
            raise ValidationFailed(t("Queue %(queue_id)s does not exist", queue_id=queue_id), field="queue_id")
        category.queue_id = queue_id
    session.flush()
    return category


def categories(session: Session) -> list[KbCategory]:
    """Every category, by name, with its queue."""
    return list(session.scalars(select(KbCategory).options(selectinload(KbCategory.queue)).order_by(KbCategory.name)))


def queue_choices(session: Session) -> list[tuple[int, str]]:
    """The queues a category may be linked to, as (id, name) by name."""
    return [(row.id, row.name) for row in session.execute(select(Queue.id, Queue.name).order_by(Queue.name))]


def search_document(article: KbArticle) -> str:
    """What the full-text index reads beside the title: problem, solution, category and tags."""
    parts = [article.problem or "", article.solution or "", article.category.name if article.category else ""]
    parts.extend(tag.name for tag in article.tags)
    return "\n".join(part for part in parts if part)


def _apply(session: Session, article: KbArticle, values: dict[str, Any]) -> None:
    for name in ARTICLE_FIELDS:
        if name in values and values[name] is not None:
            setattr(article, name, values[name])
    if not (article.title or "").strip():
        raise ValidationFailed(t("An article needs a title"), field="title")
    article.title = article.title.strip()
    if article.status not in ARTICLE_STATUSES:
        raise ValidationFailed(t("Status must be draft or published"), field="status")
    if "category" in values:
        category = values["category"]
        article.category = ensure_category(session, category) if category else None
    if values.get("tags") is not None:
        article.tags = _tags(session, normalise_tags(values["tags"]))
    article.search_document = search_document(article)


def create_article(session: Session, actor: User, values: dict[str, Any]) -> KbArticle:
    """A new article (a draft unless `status` says published), written by an admin or a supervisor; committed."""
    _require_editor(actor)
    article = KbArticle(title="", status="draft", created_by_id=actor.id, updated_by_id=actor.id, tags=[])
    _apply(session, article, values)
    session.add(article)
    session.flush()
    audit.record(session, "kb_article.created", actor_id=actor.id, entity=article)
    session.commit()
    return article


def update_article(session: Session, actor: User, article_id: int, values: dict[str, Any]) -> KbArticle:
    """Change the given fields (`tags`, when given, replaces the list; `category` None or "" removes it)."""
    _require_editor(actor)
    article = get_article(session, actor, article_id)
    _apply(session, article, values)
    article.updated_by_id = actor.id
    audit.record(session, "kb_article.updated", actor_id=actor.id, entity=article,
                 fields=sorted(k for k in values if values[k] is not None or k == "category"))
    session.commit()
    return article


# ---- reading ------------------------------------------------------------------------------------------------


def _loaded(statement: Select[Any]) -> Select[Any]:
    return statement.options(selectinload(KbArticle.tags), selectinload(KbArticle.category))


def get_article(session: Session, actor: User, article_id: int) -> KbArticle:
    """An article the actor may read (agents: published ones); others read as not found."""
    article = session.scalar(_loaded(select(KbArticle).where(KbArticle.id == article_id, _visible(actor))))
    if article is None:
        raise NotFound(t("Article %(article_id)s not found", article_id=article_id))
    return article


def list_articles(session: Session, actor: User, *, q: str = "", status: str | None = None,
                  category: str | None = None, limit: int = 25, offset: int = 0) -> tuple[list[KbArticle], int]:
    """The articles the actor may read, most used first; with `q`, the search's matches, best first."""
    conditions = [_visible(actor)]
    if status:
        conditions.append(KbArticle.status == status)
    if category:
        conditions.append(KbArticle.category_id.in_(select(KbCategory.id).where(KbCategory.name == category)))
    if (q or "").strip():
        return search(session, actor, q, limit=limit, offset=offset, conditions=conditions)
    statement = select(KbArticle).where(*conditions)
    total = session.scalar(select(func.count()).select_from(statement.subquery())) or 0
    page = session.scalars(_loaded(statement).order_by(KbArticle.usage_count.desc(), KbArticle.title, KbArticle.id)
                           .limit(limit).offset(offset)).all()
    return list(page), total


def has_cjk(text_value: str) -> bool:
    """Whether the text holds Han, Kana or Hangul, written without spaces between words."""
    return any(unicodedata.name(c, "").startswith(("CJK", "HIRAGANA", "KATAKANA", "HANGUL")) for c in text_value)


def _words(query: str) -> list[str]:
    return [w.lower() for w in _WORD.findall(query)][:MAX_QUERY_WORDS]


def search(session: Session, actor: User, query: str, *, limit: int = 20, offset: int = 0,
           conditions: Sequence[Any] = ()) -> tuple[list[KbArticle], int]:
    """Articles the actor may read matching every word of `query`, best first; returns (page, total)."""
    where = [_visible(actor), *conditions]
    if has_cjk(query):
        statement, order = _substring_match(query)
    else:
        words = _words(query)
        if not words:
            return [], 0
        dialect = session.get_bind().dialect.name
        statement, order = _postgres_match(words) if dialect == "postgresql" else _sqlite_match(words)
    statement = statement.where(*where)
    total = session.scalar(select(func.count()).select_from(statement.subquery())) or 0
    page = session.scalars(_loaded(statement).order_by(*order, KbArticle.usage_count.desc(), KbArticle.id)
                           .limit(limit).offset(offset)).all()
    return list(page), total


def _sqlite_match(words: list[str]) -> tuple[Select[Any], list[Any]]:
    # Each word quoted (FTS5 syntax in user input is then plain text) and a prefix: "reset"* "pass"*
    expression = " ".join('"' + word.replace('"', '""') + '"*' for word in words)
    fts = text(f"SELECT rowid AS article_id, bm25({SQLITE_FTS_TABLE}, 10.0, 1.0) AS score FROM {SQLITE_FTS_TABLE} "
               f"WHERE {SQLITE_FTS_TABLE} MATCH :expression").bindparams(expression=expression)
    hits = fts.columns(column("article_id", Integer), column("score", Float)).subquery("hits")
    statement = select(KbArticle).join(hits, hits.c.article_id == KbArticle.id)
    return statement, [hits.c.score.asc()]  # bm25: lower is better


def _postgres_match(words: list[str]) -> tuple[Select[Any], list[Any]]:
    # Letters and digits only (_WORD), so the tsquery text cannot carry operators of its own.
    query = func.to_tsquery("simple", " & ".join(f"{word}:*" for word in words))
    document = literal_column(PG_DOCUMENT)
    statement = select(KbArticle).where(document.op("@@")(query))
    return statement, [func.ts_rank(document, query).desc()]


def _escape_like(value: str) -> str:
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _substring_match(query: str) -> tuple[Select[Any], list[Any]]:
    pieces = [piece.lower() for piece in query.split() if piece][:MAX_QUERY_WORDS]
    statement = select(KbArticle)
    title_hits = []
    for piece in pieces:
        pattern = f"%{_escape_like(piece)}%"
        in_title = func.lower(KbArticle.title).like(pattern, escape="\\")
        statement = statement.where(or_(in_title, func.lower(KbArticle.search_document).like(pattern, escape="\\")))
        title_hits.append(case((in_title, 1), else_=0))
    return statement, [sum(title_hits[1:], title_hits[0]).desc()] if title_hits else []


# ---- the pop ------------------------------------------------------------------------------------------------


def _suggestion(article: KbArticle) -> dict[str, Any]:
    return {"id": article.id, "title": article.title}


def suggest_for_ticket_categories(session: Session, names: Sequence[str], limit: int = SUGGESTIONS) -> list[KbArticle]:
    """Published articles of the categories named (the caller's open tickets' categories), most used first.

    Tickets have no category yet: the pop passes none until they do (services.screen_pop)."""
    if not names:
        return []
    return list(session.scalars(
        select(KbArticle).join(KbCategory, KbArticle.category_id == KbCategory.id)
        .where(KbArticle.status == "published", KbCategory.name.in_(list(names)))
        .order_by(KbArticle.usage_count.desc(), KbArticle.id).limit(limit)))


def suggest_for_queue(session: Session, queue_name: str | None, limit: int = SUGGESTIONS) -> list[KbArticle]:
    """Published articles of the categories linked to the queue the caller chose in the IVR, most used first."""
    if not queue_name:
        return []
    return list(session.scalars(
        select(KbArticle).join(KbCategory, KbArticle.category_id == KbCategory.id)
        .join(Queue, KbCategory.queue_id == Queue.id)
        .where(KbArticle.status == "published", Queue.name == queue_name)
        .order_by(KbArticle.usage_count.desc(), KbArticle.id).limit(limit)))


def _queue_suggestions(session: Session, queue_name: str | None) -> list[dict[str, Any]]:
    """The queue's suggestions from process memory: every pop of the queue would ask the same. Dropped in every
    process when an article or category is edited; the "most used" order may lag by the cache's maximum age."""
    if not queue_name:
        return []
    return config_cache.cache.get(SUGGESTIONS_CACHE, queue_name,
                                  lambda: [_suggestion(a) for a in suggest_for_queue(session, queue_name)])


def suggested_articles(session: Session, *, queue_name: str | None,
                       ticket_categories: Sequence[str] = ()) -> list[dict[str, Any]]:
    """At most SUGGESTIONS articles for a pop, `{id, title}` each: the open tickets' categories first (the more
    specific), then the queue's."""
    found: list[dict[str, Any]] = []
    for article in [*(_suggestion(a) for a in suggest_for_ticket_categories(session, ticket_categories)),
                    *_queue_suggestions(session, queue_name)]:
        if article["id"] not in {a["id"] for a in found}:
            found.append(article)
    return found[:SUGGESTIONS]


SUGGESTIONS_CACHE = "kb_suggestions"  # config_cache namespace
config_cache.watch(KbArticle, SUGGESTIONS_CACHE)
config_cache.watch(KbCategory, SUGGESTIONS_CACHE)


# ---- usage --------------------------------------------------------------------------------------------------


def record_use(session: Session, article_id: int, kind: str, *, user_id: int | None = None,
               call_id: int | None = None) -> None:
    """Count one use (viewed from a pop, sent to a customer) in the caller's transaction."""
    if kind not in USE_KINDS:
        raise ValueError(f"unknown use {kind!r}")
    session.add(KbArticleUse(article_id=article_id, kind=kind, user_id=user_id, call_id=call_id))
    # One atomic increment (two agents at once both count); updated_at says when the text changed, so keep it.
    # "fetch" brings the new count into an article this session already holds (sessions keep objects on commit).
    session.execute(update(KbArticle).where(KbArticle.id == article_id)
                    .values(usage_count=KbArticle.usage_count + 1, updated_at=KbArticle.updated_at)
                    .execution_options(synchronize_session="fetch"))


def view_from_pop(session: Session, actor: User, article_id: int, call_id: int | None = None) -> KbArticle:
    """An agent opened a suggested article from a pop: counted, committed."""
    article = get_article(session, actor, article_id)
    record_use(session, article.id, "viewed", user_id=actor.id, call_id=call_id)
    session.commit()
    return article


def uses(session: Session, article_id: int) -> dict[str, int]:
    """How many times the article was viewed from a pop and sent, by kind."""
    rows = session.execute(select(KbArticleUse.kind, func.count()).where(KbArticleUse.article_id == article_id)
                           .group_by(KbArticleUse.kind)).all()
    counts = dict.fromkeys(USE_KINDS, 0)
    counts.update({kind: n for kind, n in rows})
    return counts
