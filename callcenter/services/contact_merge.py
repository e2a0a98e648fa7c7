"""Duplicate contacts: finding them (same number, same e-mail, same name once normalised) and merging two into one.

A merge keeps every interaction of both: every row that points at the merged-away contact (calls, callbacks,
tickets with their events, campaign leads, outbound messages, and whatever table adds a foreign key to
`contacts.id` later) is moved to the survivor. The rows are found from the schema itself, not from a list kept
by hand, so a new table cannot be forgotten. The survivor keeps the union of both contacts' numbers (each once),
fills its empty fields from the other, and keeps both notes; the other contact is deleted. The audit log keeps
what the deleted contact was and how many rows of each table moved.
"""

from __future__ import annotations

import re
import unicodedata
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Column, delete, func, select, update
from sqlalchemy.orm import Session, selectinload

from callcenter.models import Base, Contact, ContactPhone, User
from callcenter.services import audit, scope
from callcenter.services.errors import Conflict, NotFound
from callcenter.services.messages import t

# Fields the survivor takes from the other contact when its own is empty.
FILLED_FIELDS = ("first_name", "last_name", "full_name", "email", "account_id", "owner_id", "time_zone",
                 "language")
REASONS = ("phone", "email", "name")
MAX_GROUPS = 500


@dataclass
class DuplicateGroup:
    """Contacts that look like one person, and why: `reason` phone/email/name and the value they share."""

    reason: str
    key: str
    contacts: list[Contact] = field(default_factory=list)


@dataclass
class MergeResult:
    survivor: Contact
    merged_id: int
    moved: dict[str, int]
    phones_added: list[str]
    fields_filled: list[str]


def normalised_name(contact: Contact) -> str:
    """The name as a duplicate key: accents, case, punctuation and word order do not matter; '' without a name.

    The words come from the display name (so 王小明 written whole or as family + given name are the same)."""
    if not ((contact.full_name or "").strip() or (contact.first_name or "").strip()
            or (contact.last_name or "").strip()):
        return ""
    text = unicodedata.normalize("NFKD", contact.display_name)
    text = "".join(c for c in text if not unicodedata.combining(c)).casefold()
    words = re.findall(r"\w+", text)
    return " ".join(sorted(words))


def _groups_by_sql(session: Session, viewer: User, reason: str, column: Any, *extra: Any) -> list[DuplicateGroup]:
    visible = select(Contact.id).where(scope.contacts(viewer))
    owner = ContactPhone.contact_id if reason == "phone" else Contact.id
    shared = (select(column).where(owner.in_(visible), *extra).group_by(column)
              .having(func.count(func.distinct(owner)) > 1).order_by(column).limit(MAX_GROUPS))
    keys = list(session.scalars(shared))
    if not keys:
        return []
    rows = session.execute(select(column, owner).where(owner.in_(visible), column.in_(keys)).distinct()
                           .order_by(column, owner))
    members: dict[str, list[int]] = defaultdict(list)
    for key, contact_id in rows:
        members[key].append(contact_id)
    return [DuplicateGroup(reason, key, [session.get(Contact, i) for i in ids]) for key, ids in members.items()]


def find_duplicates(session: Session, viewer: User, reason: str | None = None) -> list[DuplicateGroup]:
    """Groups of contacts (in the viewer's scope) sharing a number, an e-mail or a normalised name.

    At most MAX_GROUPS per reason; a pair that shares two things appears under each."""
    groups: list[DuplicateGroup] = []
    if reason in (None, "phone"):
        groups += _groups_by_sql(session, viewer, "phone", ContactPhone.e164)
    if reason in (None, "email"):
        groups += _groups_by_sql(session, viewer, "email", func.lower(Contact.email), Contact.email.is_not(None),
                                 Contact.email != "")
    if reason in (None, "name"):
        by_name: dict[str, list[int]] = defaultdict(list)
        for contact in session.scalars(select(Contact).where(scope.contacts(viewer)).order_by(Contact.id)
                                       .execution_options(yield_per=1000)):
            if key := normalised_name(contact):
                by_name[key].append(contact.id)
        shared = [(key, ids) for key, ids in sorted(by_name.items()) if len(ids) > 1][:MAX_GROUPS]
        groups += [DuplicateGroup("name", key, [session.get(Contact, i) for i in ids]) for key, ids in shared]
    return groups


def _references() -> list[tuple[type, Column[Any]]]:
    """(model, column) for every mapped foreign key to contacts.id, except the contact's own phones (a column that
    is also the row's primary key marks one-per-contact derived data)."""
    found = []
    for mapper in Base.registry.mappers:
        table = mapper.local_table
        if table is None or table.name == ContactPhone.__tablename__:
            continue
        for fk in table.foreign_keys:
            if fk.column.table.name == Contact.__tablename__ and fk.column.name == "id":
                found.append((mapper.class_, fk.parent))
    return sorted(found, key=lambda item: (item[0].__tablename__, item[1].name))


def _contact(session: Session, viewer: User, contact_id: int) -> Contact:
    contact = session.scalar(select(Contact).where(Contact.id == contact_id, scope.contacts(viewer))
                             .options(selectinload(Contact.phones)))
    if contact is None:
        raise NotFound(t('Contact %(contact_id)s not found', contact_id=contact_id), field="contact_id")
    return contact


def _snapshot(contact: Contact) -> dict[str, Any]:
    values = {name: getattr(contact, name) for name in (*FILLED_FIELDS, "vip", "notes")}
    values["phones"] = [p.e164 for p in contact.phones]
    return values


def merge(session: Session, actor: User, survivor_id: int, other_id: int, *,
          ip_address: str | None = None) -> MergeResult:
    """Merge contact `other_id` into `survivor_id` (both in the actor's scope); committed.

    Every row pointing at the other contact moves to the survivor; the other contact is deleted."""
    if survivor_id == other_id:
        raise Conflict(t("A contact cannot be merged into itself"), field="other_id")
    survivor = _contact(session, actor, survivor_id)
    other = _contact(session, actor, other_id)
    before = _snapshot(other)
    survivor_before = _snapshot(survivor)

    moved: dict[str, int] = {}
    for model, column in _references():
        if column.primary_key:
            # One row per contact (derived figures such as the RFM scores): the survivor keeps its own, the
            # other's is dropped and its job computes the merged contact afresh.
            session.execute(delete(model).where(column == other.id), execution_options={"synchronize_session": "fetch"})
            continue
        result = session.execute(update(model).where(column == other.id).values({column.key: survivor.id}),
                                 execution_options={"synchronize_session": "fetch"})
        if result.rowcount:
            moved[model.__tablename__] = moved.get(model.__tablename__, 0) + result.rowcount

    own = {p.e164 for p in survivor.phones}
    phones_added: list[str] = []
    for phone in list(other.phones):
        other.phones.remove(phone)
        if phone.e164 in own:
            session.delete(phone)  # the same number on both: kept once
            continue
        own.add(phone.e164)
        survivor.phones.append(phone)
        phones_added.append(phone.e164)
    if phones_added:
        moved[ContactPhone.__tablename__] = len(phones_added)

    filled = []
    for name in FILLED_FIELDS:
        if getattr(survivor, name) in (None, "") and getattr(other, name) not in (None, ""):
            setattr(survivor, name, getattr(other, name))
            filled.append(name)
    survivor.vip = bool(survivor.vip or other.vip)
    if (other.notes or "").strip():
        survivor.notes = "\n\n".join(n for n in ((survivor.notes or "").strip(), other.notes.strip()) if n)
        filled.append("notes")

    session.flush()
    session.delete(other)
    audit.record(session, "contact.merged", actor_id=actor.id, entity=survivor, ip_address=ip_address,
                 merged_id=other_id, moved=moved, phones_added=phones_added, fields_filled=filled,
                 before=survivor_before, after=_snapshot(survivor), merged=before)
    audit.record(session, "contact.merged_away", actor_id=actor.id, entity=other, ip_address=ip_address,
                 into_id=survivor_id, before=before)
    session.commit()
    return MergeResult(survivor=survivor, merged_id=other_id, moved=moved, phones_added=phones_added,
                       fields_filled=filled)
