"""Small data factories: the least a test must say to get a valid row."""

from __future__ import annotations

import itertools
from typing import Any

from sqlalchemy.orm import Session

from callcenter.models import Account, Call, Contact, ContactPhone, Queue, QueueSkill, User
from callcenter.seed import ALL_WEEK
from callcenter.services import auth
from callcenter.services.ivr_flows import ensure_default_flow

_seq = itertools.count(1)
DEFAULT_PASSWORD = "password123"


class Factory:
    def __init__(self, session: Session) -> None:
        self.session = session

    def user(self, role: str = "agent", team: str | None = None, skills: dict[str, int] | None = None,
             username: str | None = None, password: str = DEFAULT_PASSWORD) -> User:
        n = next(_seq)
        user = auth.create_user(
            self.session,
            username=username or f"{role}{n}",
            password=password,
            full_name=f"{role.title()} {n}",
            role=role,
            team=team,
            skills=skills,
        )
        self.session.commit()
        return user

    def account(self, name: str | None = None, **values: Any) -> Account:
        account = Account(name=name or f"Account {next(_seq)}", **values)
        self.session.add(account)
        self.session.commit()
        return account

    def contact(self, phones: tuple[str, ...] = (), **values: Any) -> Contact:
        n = next(_seq)
        values.setdefault("first_name", "Pat")
        values.setdefault("last_name", f"Caller{n}")
        contact = Contact(**values)
        contact.phones = [ContactPhone(e164=p, raw=p) for p in phones]
        self.session.add(contact)
        self.session.commit()
        return contact

    def demo_line(self) -> dict[str, Queue]:
        """The demo line: queues Sales, Support, Billing (open around the clock, each needing its skill) and
        the default IVR flow on +18005550100 (1 sales, 2 support menu, 3 billing, 0 voicemail)."""
        queues = {}
        for name in ("Sales", "Support", "Billing"):
            queue = Queue(name=name, business_hours=ALL_WEEK, wrap_up_seconds=30, reservation_timeout_seconds=15)
            queue.skills = [QueueSkill(skill=auth.get_or_create_skill(self.session, name.lower()), min_level=1)]
            self.session.add(queue)
            queues[name] = queue
        self.session.flush()
        ensure_default_flow(self.session)
        self.session.commit()
        return queues

    def call(self, **values: Any) -> Call:
        n = next(_seq)
        values.setdefault("call_sid", f"CA{n:032x}")
        values.setdefault("direction", "inbound")
        values.setdefault("from_number", "+14155550100")
        values.setdefault("to_number", "+18005550100")
        call = Call(**values)
        self.session.add(call)
        self.session.commit()
        return call
