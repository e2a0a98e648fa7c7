"""Demo data for a first run: people, queues, dispositions, accounts and 200 contacts.

Two demo lines: the main line (+18005550100) and a bilingual one (+18005550188) whose first menu asks English or
中文; Chinese callers go to the agents with the `language:zh_Hans` skill (Mei and Jun), and a few contacts have
Chinese names and mainland numbers, so `callcenter run` shows a Chinese caller popping with their record.

Deterministic (fixed random seed) so a demo looks the same on every machine. Runs once: a database that has any
user is left alone.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from callcenter.models import (
    Account,
    Contact,
    ContactPhone,
    Disposition,
    KbArticle,
    KbTag,
    Queue,
    QueueSkill,
    Role,
    Ticket,
    User,
    utcnow,
)
from callcenter.services import knowledge_base
from callcenter.services.auth import create_user, get_or_create_skill
from callcenter.services.ivr_flows import ensure_bilingual_flow, ensure_default_flow
from callcenter.services.phones import to_e164
from callcenter.services.routing import language_skill_name
from callcenter.settings import public_host

DEMO_PASSWORD = "demo-password"
ALL_WEEK = {day: [["00:00", "24:00"]] for day in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}
CHINESE = language_skill_name("zh_Hans")

PEOPLE = [
    # username, full name, role, team, skills
    ("admin", "Ada Admin", Role.ADMIN, None, {}),
    ("sam", "Sam Supervisor", Role.SUPERVISOR, "North", {"sales": 8, "support": 8}),
    ("sue", "Sue Supervisor", Role.SUPERVISOR, "South", {"billing": 8, "support": 8}),
    ("alice", "Alice Agent", Role.AGENT, "North", {"sales": 9, "support": 5}),
    ("bob", "Bob Agent", Role.AGENT, "North", {"sales": 6, "spanish": 8}),
    ("carol", "Carol Agent", Role.AGENT, "North", {"support": 9}),
    ("dave", "Dave Agent", Role.AGENT, "South", {"billing": 7, "support": 4}),
    ("erin", "Erin Agent", Role.AGENT, "South", {"billing": 9, "spanish": 9}),
    ("frank", "Frank Agent", Role.AGENT, "South", {"support": 6, "billing": 5}),
    ("mei", "王美 (Mei Wang)", Role.AGENT, "North", {"sales": 6, "support": 6, CHINESE: 9}),
    ("jun", "陈军 (Jun Chen)", Role.AGENT, "South", {"billing": 6, "support": 5, CHINESE: 8}),
]

QUEUES = [
    # name, description, required skills {skill: min level}, base priority
    ("Sales", "New orders and quotes", {"sales": 3}, 0),
    ("Support", "Technical support", {"support": 3}, 0),
    ("Billing", "Invoices and payments", {"billing": 3}, 0),
]
SCRIPTS = {
    "Sales": "Thank the caller, confirm their account, ask what they would like to order, offer the current promotion.",
    "Support": "Confirm identity, check open tickets, reproduce the problem, give a ticket number before hanging up.",
    "Billing": "Confirm identity and the invoice number; never read full card numbers aloud.",
}

DISPOSITIONS = [
    ("resolved", "Resolved on first call"),
    ("sale", "Sale made"),
    ("follow_up", "Follow-up needed"),
    ("callback", "Callback scheduled"),
    ("ticket", "Ticket opened"),
    ("wrong_number", "Wrong number"),
    ("no_answer", "No answer / voicemail"),
]

FIRST_NAMES = ["Olivia", "Liam", "Emma", "Noah", "Ava", "Elijah", "Sophia", "Lucas", "Mia", "Mateo", "Isabella",
               "Levi", "Amelia", "Hiroshi", "Priya", "Chen", "Fatima", "Jonas", "Ingrid", "Kwame"]
LAST_NAMES = ["Garcia", "Smith", "Johnson", "Brown", "Jones", "Miller", "Davis", "Wilson", "Anderson", "Taylor",
              "Thomas", "Moore", "Martin", "Lee", "Walker", "Hall", "Young", "King", "Wright", "Lopez"]
COMPANIES = ["Acme", "Globex", "Initech", "Umbrella", "Hooli", "Vandelay", "Stark", "Wayne", "Wonka", "Tyrell",
             "Cyberdyne", "Soylent", "Gringotts", "Monarch", "Oscorp", "Pied Piper", "Aperture", "Massive Dynamic",
             "Dunder Mifflin", "Prestige"]
# Contacts in mainland China: (family name, given name, number as typed in China). The lookup finds them from the
# carrier's +86 E.164 whatever way the number was typed.
CHINESE_CONTACTS = [
    ("王", "小明", "138 0013 8000"),
    ("李", "华", "010-6552 9988"),
    ("张", "伟", "021 6210 0000"),
    ("刘", "芳", "+86 139 1000 2000"),
]
# The same numbers written the ways people type them: the lookup must not care.
PHONE_STYLES = ["({a}) {b}-{c}", "+1 {a}-{b}-{c}", "{a}.{b}.{c}", "1{a}{b}{c}", "+1{a}{b}{c}"]


def demo_refused(config: dict) -> str | None:
    """Why demo users (whose password is published) must not exist or sign in on this server, or None."""
    exposed = public_host(config)
    if exposed is None:
        return None
    return f"demo users have a published password and are refused on a server other machines can reach ({exposed})"


@dataclass(frozen=True)
class SeedResult:
    created: bool
    users: int
    contacts: int


def seed_demo(session: Session, contact_count: int = 200) -> SeedResult:
    """Create the demo data unless the database already has users."""
    if session.scalar(select(func.count(User.id))):
        return SeedResult(False, 0, 0)
    rng = random.Random(42)
    people = {}
    for username, full_name, role, team, skills in PEOPLE:
        people[username] = create_user(
            session,
            username=username,
            password=DEMO_PASSWORD,
            full_name=full_name,
            role=role.value,
            email=f"{username}@example.com",
            team=team,
            skills=skills,
        )
    # One demo agent works in Simplified Chinese: her screens follow her profile, whatever the browser says.
    people["carol"].language, people["carol"].time_zone = "zh_Hans", "Asia/Shanghai"
    for name, description, skills, base_priority in QUEUES:
        queue = Queue(name=name, description=description, business_hours=ALL_WEEK, base_priority=base_priority,
                      script=SCRIPTS[name])
        queue.skills = [
            QueueSkill(skill=get_or_create_skill(session, s), min_level=level) for s, level in skills.items()
        ]
        session.add(queue)
    for code, label in DISPOSITIONS:
        session.add(Disposition(code=code, label=label))
    session.flush()
    ensure_default_flow(session)
    ensure_bilingual_flow(session)
    seed_knowledge_base(session, people["sam"])

    agents = [u for u in people.values() if u.role == Role.AGENT.value]
    accounts = []
    for index, company in enumerate(COMPANIES * 2):
        suffix = "" if index < len(COMPANIES) else " Europe"
        accounts.append(Account(name=f"{company}{suffix}", vip=index % 9 == 0, owner=rng.choice(agents)))
    session.add_all(accounts)
    session.flush()

    for n in range(contact_count):
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        contact = Contact(
            first_name=first,
            last_name=last,
            email=f"{first}.{last}{n}@example.com".lower(),
            account=accounts[n % len(accounts)],
            vip=n % 25 == 0,
            owner=rng.choice(agents),
        )
        # 555-01xx numbers are reserved for fiction; keep them unique per contact.
        numbers = [f"415555{n // 100:01d}{n % 100:03d}"[-10:]]
        if n % 5 == 0:
            numbers.append(f"628555{n // 100:01d}{n % 100:03d}"[-10:])
        phones = []
        for i, digits in enumerate(numbers):
            style = PHONE_STYLES[(n + i) % len(PHONE_STYLES)]
            raw = style.format(a=digits[:3], b=digits[3:6], c=digits[6:])
            phones.append(ContactPhone(e164=to_e164(raw, "US"), raw=raw, label="mobile" if i == 0 else "work"))
        contact.phones = phones
        session.add(contact)
        if n % 10 == 0:
            session.add(
                Ticket(
                    subject=rng.choice(["Invoice question", "Device not working", "Upgrade request", "Login issue"]),
                    priority="urgent" if n % 40 == 0 else "normal",
                    contact=contact,
                    account=contact.account,
                    assignee=contact.owner,
                    due_at=utcnow() + timedelta(days=2),
                )
            )
    for index, (family, given, typed) in enumerate(CHINESE_CONTACTS):
        session.add(Contact(first_name=given, last_name=family, language="zh_Hans", time_zone="Asia/Shanghai",
                            account=accounts[index], owner=rng.choice(agents),
                            phones=[ContactPhone(e164=to_e164(typed, "CN"), raw=typed, label="mobile")]))
    session.commit()
    return SeedResult(True, len(people), contact_count + len(CHINESE_CONTACTS))


# Demo knowledge base: (category, queue it is suggested to, title, problem, solution, tags)
KB_ARTICLES = [
    ("Connectivity", "Support", "Router keeps rebooting", "The router restarts every few minutes.",
     "Unplug the router for 30 seconds, plug it back in, then update its firmware from the admin page.",
     ["router", "firmware"]),
    ("Connectivity", "Support", "No internet after a power cut", "All lights are on but nothing loads.",
     "Restart the modem first, then the router; wait two minutes between them.", ["modem", "outage"]),
    ("Accounts", "Support", "重置密码后无法登录", "客户重置密码以后还是登录不了。",
     "清除浏览器缓存，然后用新密码登录。", ["登录", "密码"]),
    ("Invoices", "Billing", "Invoice shows a double charge", "Two charges for the same month.",
     "Refund the second charge from the billing page; the refund shows within five working days.",
     ["refund", "invoice"]),
]


def seed_knowledge_base(session: Session, author: User) -> None:
    """A few published articles, their categories linked to the demo queues (the pop suggests them)."""
    queues = {q.name: q.id for q in session.scalars(select(Queue))}
    for category, queue, title, problem, solution, tags in KB_ARTICLES:
        found = knowledge_base.ensure_category(session, category, queue_id=queues.get(queue))
        article = KbArticle(title=title, problem=problem, solution=solution, category=found, status="published",
                            created_by_id=author.id, updated_by_id=author.id)
        article.tags = [KbTag(name=t) for t in tags]  # no tag repeats across KB_ARTICLES
        article.search_document = knowledge_base.search_document(article)
        session.add(article)
