"""How complete the contacts are: contacts without a number (the pop can never find them), without an account,
and with a stored number that does not parse (a caller from it is never matched, a dial to it fails).

Read within the viewer's scope (services.scope.contacts), like every contact list.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session, selectinload

from callcenter.models import Contact, ContactPhone, User
from callcenter.services import scope
from callcenter.services.errors import ValidationFailed
from callcenter.services.messages import t
from callcenter.services.phones import try_e164

CHECKS = ("no_number", "no_account", "bad_number")
MAX_PER_PAGE = 10_000


@dataclass
class Finding:
    """A contact a check found, with the stored numbers that do not parse (bad_number only)."""

    contact: Contact
    bad_numbers: list[str] = field(default_factory=list)


def _check(name: str) -> str:
    if name not in CHECKS:
        raise ValidationFailed(t("Unknown check %(value)r; choose one of %(choices)s", value=name[:40],
                                 choices=", ".join(CHECKS)), field="check")
    return name


def _bad_numbers(session: Session, viewer: User) -> dict[int, list[str]]:
    """Each visible contact's stored numbers that do not read back as themselves in E.164."""
    found: dict[int, list[str]] = defaultdict(list)
    visible = select(Contact.id).where(scope.contacts(viewer))
    rows = session.execute(select(ContactPhone.contact_id, ContactPhone.e164)
                           .where(ContactPhone.contact_id.in_(visible)).order_by(ContactPhone.id)
                           .execution_options(yield_per=5000))
    for contact_id, e164 in rows:
        if not e164 or not e164.startswith("+") or try_e164(e164) != e164:
            found[contact_id].append(e164)
    return found


def _condition(name: str) -> ColumnElement[bool]:
    if name == "no_number":
        return ~select(ContactPhone.id).where(ContactPhone.contact_id == Contact.id).exists()
    return Contact.account_id.is_(None)


def counts(session: Session, viewer: User) -> dict[str, int]:
    """How many visible contacts each check finds."""
    result = {name: session.scalar(select(func.count()).select_from(Contact)
                                   .where(scope.contacts(viewer), _condition(name))) or 0
              for name in ("no_number", "no_account")}
    result["bad_number"] = len(_bad_numbers(session, viewer))
    return result


def findings(session: Session, viewer: User, check: str, *, page: int = 1,
             per_page: int = 100) -> tuple[list[Finding], int]:
    """One page of the contacts a check finds (oldest first), and how many it finds in all."""
    _check(check)
    per_page = max(1, min(per_page, MAX_PER_PAGE))
    offset = (max(page, 1) - 1) * per_page
    query = select(Contact).options(selectinload(Contact.phones), selectinload(Contact.account))
    if check == "bad_number":
        bad = _bad_numbers(session, viewer)
        ids = sorted(bad)[offset:offset + per_page]
        contacts = session.scalars(query.where(Contact.id.in_(ids)).order_by(Contact.id)) if ids else []
        return [Finding(c, bad[c.id]) for c in contacts], len(bad)
    conditions = (scope.contacts(viewer), _condition(check))
    total = session.scalar(select(func.count()).select_from(Contact).where(*conditions)) or 0
    contacts = session.scalars(query.where(*conditions).order_by(Contact.id).limit(per_page).offset(offset))
    return [Finding(c) for c in contacts], total
