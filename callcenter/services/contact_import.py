"""The contacts as a target of the generic CSV import (services.csv_import): each good row becomes a contact.

The pipeline is the campaigns' one (upload, mapping, dry run, RQ job with progress, per-row report, all-or-nothing
in one transaction); only where the rows go differs. A row's number that a contact already has is skipped
(`already_a_contact`), never merged silently: two records of one person are the duplicates page's business.
The new contact is owned by whoever uploaded the file, so a supervisor keeps seeing what they imported.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import ClassVar

import redis
from sqlalchemy import select
from sqlalchemy.orm import Session

from callcenter.models import Contact, ContactPhone, ListImport, User
from callcenter.services import csv_import
from callcenter.services.campaign_lists import account_for
from callcenter.services.csv_import import CONTACT_FIELDS, Row


@dataclass(frozen=True)
class ContactList:
    """Every contact: numbers any contact has are "already present"."""

    fields: ClassVar[tuple[str, ...]] = CONTACT_FIELDS
    present_code: ClassVar[str] = "already_a_contact"
    owner_id: int | None = None

    def known_numbers(self, session: Session, import_id: int | None) -> set[str]:
        return set(session.scalars(select(ContactPhone.e164).distinct()))

    def imported_by(self, session: Session, import_id: int) -> set[str]:
        """Nothing to find: the contacts and the import's `done` commit together, so a job run again meets either
        an import that wrote nothing or a finished one (which run_import leaves alone)."""
        return set()

    def blocked_numbers(self, session: Session, numbers: set[str]) -> set[str]:
        """A contact on a do-not-call list is still a contact: the dialing gate refuses the calls, not the import."""
        return set()

    def write(self, session: Session, rows: list[Row], import_id: int | None, now: datetime) -> int:
        accounts: dict[str, int] = {}
        for row in rows:
            assert row.phone is not None
            values = row.values
            contact = Contact(first_name=values.get("first_name", ""), last_name=values.get("last_name", ""),
                              full_name=values.get("name", ""), email=values.get("email"),
                              language=values.get("language"), account_id=account_for(session, row, accounts),
                              owner_id=self.owner_id)
            contact.phones = [ContactPhone(e164=row.phone, raw=row.phone, label="mobile")]
            second = values.get("phone2")
            if second and second != row.phone:
                contact.phones.append(ContactPhone(e164=second, raw=second, label="other"))
            session.add(contact)
        session.flush()
        return len(rows)


def upload(session: Session, r: redis.Redis, actor: User, *, filename: str, text: str) -> ListImport:
    """Record a contact file (pending, all-or-nothing by default) with a mapping guessed from its header."""
    return csv_import.create_import(session, r, actor, campaign_id=None, filename=filename, text=text,
                                    fields=CONTACT_FIELDS)


def target_of(entry: ListImport) -> ContactList:
    """Where an import's contacts go: owned by the person who uploaded the file."""
    return ContactList(owner_id=entry.created_by_id)


def run(session: Session, r: redis.Redis, import_id: int, *, region: str) -> ListImport:
    """The job's body for a contact import (see csv_import.run_import)."""
    entry = csv_import.get_import(session, import_id)
    return csv_import.run_import(session, r, import_id, target_of(entry), region=region)
