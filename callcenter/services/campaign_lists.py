"""A campaign's list as a target of the CSV import (services.csv_import): rows become leads.

Each row's number finds its contact (any of a contact's numbers, as the pop finds callers) or creates one with the
row's name, email and account; the lead keeps the row's priority, consent and custom fields. A number on a
do-not-call list becomes a `blocked` lead: on the list for the record, never dialled.

A list can also be built from a customer segment (services.rfm): `add_segment` adds each contact of the segment
by their first number, under the same rules (numbers already on the list are skipped, do-not-call ones blocked).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from callcenter.models import Account, CampaignContact, Contact, ContactPhone, DoNotCall, User
from callcenter.services import audit, campaigns, rfm
from callcenter.services.csv_import import FIELDS, Row
from callcenter.services.errors import Conflict
from callcenter.services.messages import t

BATCH = 500


def chunks(items: list[Any], size: int = BATCH) -> list[list[Any]]:
    return [items[i:i + size] for i in range(0, len(items), size)]


@dataclass(frozen=True)
class CampaignList:
    """The leads of one campaign."""

    fields: ClassVar[tuple[str, ...]] = FIELDS
    present_code: ClassVar[str] = "already_present"
    campaign_id: int

    def known_numbers(self, session: Session, import_id: int | None) -> set[str]:
        query = select(CampaignContact.phone_e164).where(CampaignContact.campaign_id == self.campaign_id)
        if import_id is not None:
            query = query.where((CampaignContact.import_id.is_(None)) | (CampaignContact.import_id != import_id))
        return set(session.scalars(query))

    def imported_by(self, session: Session, import_id: int) -> set[str]:
        return set(session.scalars(select(CampaignContact.phone_e164).where(
            CampaignContact.campaign_id == self.campaign_id, CampaignContact.import_id == import_id)))

    def blocked_numbers(self, session: Session, numbers: set[str]) -> set[str]:
        found: set[str] = set()
        for chunk in chunks(sorted(numbers)):
            found.update(session.scalars(select(DoNotCall.phone_e164).where(DoNotCall.phone_e164.in_(chunk))))
        return found

    def write(self, session: Session, rows: list[Row], import_id: int | None, now: datetime) -> int:
        contacts = _contacts_by_number(session, [r.phone for r in rows if r.phone])
        accounts: dict[str, int] = {}
        for row in rows:
            assert row.phone is not None
            blocked = "do_not_call" in row.flags
            consent = row.values.get("consent")
            lead = CampaignContact(
                campaign_id=self.campaign_id, phone_e164=row.phone, status="blocked" if blocked else "pending",
                last_result="do_not_call" if blocked else None, priority=row.values.get("priority", 0),
                custom_fields=dict(row.custom), import_id=import_id,
                consent_at=(now if consent is True else consent) or None, attempts=0,
            )
            if row.phone in contacts:
                lead.contact_id = contacts[row.phone]
            else:
                lead.contact = _new_contact(session, row, accounts)  # inserted with the leads, in one flush
            session.add(lead)
        session.flush()
        return len(rows)


def _contacts_by_number(session: Session, numbers: list[str]) -> dict[str, int]:
    """Each number's contact (the oldest, when several share it)."""
    found: dict[str, int] = {}
    for chunk in chunks(sorted(set(numbers))):
        for e164, contact_id in session.execute(
                select(ContactPhone.e164, func.min(ContactPhone.contact_id))
                .where(ContactPhone.e164.in_(chunk)).group_by(ContactPhone.e164)):
            found[e164] = contact_id
    return found


def account_for(session: Session, row: Row, accounts: dict[str, int]) -> int | None:
    """The id of the account the row names (the oldest of that name, else a new one); `accounts` caches by name."""
    name = (row.values.get("account") or "").strip()
    if not name:
        return None
    if name not in accounts:
        existing = session.scalar(select(Account.id).where(Account.name == name).order_by(Account.id))
        if existing is None:
            account = Account(name=name)
            session.add(account)
            session.flush()
            existing = account.id
        accounts[name] = existing
    return accounts[name]


def _new_contact(session: Session, row: Row, accounts: dict[str, int]) -> Contact:
    contact = Contact(first_name=row.values.get("first_name", ""), last_name=row.values.get("last_name", ""),
                      email=row.values.get("email"), account_id=account_for(session, row, accounts))
    contact.phones = [ContactPhone(e164=row.phone, raw=row.phone, label="mobile")]
    session.add(contact)
    return contact


@dataclass(frozen=True)
class SegmentAdded:
    added: int  # new pending leads
    blocked: int  # new leads blocked by a do-not-call list
    skipped: int  # contacts of the segment without a number, or whose number is already on the list


def add_segment(session: Session, campaign_id: int, segment: str) -> SegmentAdded:
    """Add every contact of `segment` (at the last RFM pass) to a campaign's list by their first number; not
    committed (the caller's service owns the transaction). Running it again adds only the segment's newcomers."""
    contact_ids = rfm.contact_ids_in(session, segment)
    first_numbers: dict[int, str] = {}
    for chunk in chunks(contact_ids):
        for contact_id, e164 in session.execute(
                select(ContactPhone.contact_id, ContactPhone.e164).where(ContactPhone.contact_id.in_(chunk))
                .order_by(ContactPhone.contact_id, ContactPhone.id)):
            first_numbers.setdefault(contact_id, e164)
    target = CampaignList(campaign_id)
    known = target.known_numbers(session, None)
    wanted = {cid: e164 for cid, e164 in first_numbers.items() if e164 not in known}
    blocked_numbers = target.blocked_numbers(session, set(wanted.values()))
    added = blocked = 0
    for contact_id, e164 in wanted.items():
        if e164 in known:
            continue  # two contacts of the segment share the number: one lead
        known.add(e164)
        is_blocked = e164 in blocked_numbers
        session.add(CampaignContact(campaign_id=campaign_id, contact_id=contact_id, phone_e164=e164,
                                    status="blocked" if is_blocked else "pending",
                                    last_result="do_not_call" if is_blocked else None, attempts=0,
                                    custom_fields={"segment": segment}))
        blocked += is_blocked
        added += not is_blocked
    session.flush()
    return SegmentAdded(added=added, blocked=blocked, skipped=len(contact_ids) - added - blocked)


def add_segment_to_campaign(session: Session, actor: User, campaign_id: int, segment: str) -> SegmentAdded:
    """A manager adds a segment's contacts to a campaign that is not finished; committed and audited."""
    campaigns.require_manager(actor)
    rfm.check_segment(segment)
    campaign = campaigns.get_campaign(session, campaign_id)
    if campaign.status == "finished":
        raise Conflict(t("A finished campaign can no longer be changed"), field="status")
    result = add_segment(session, campaign.id, segment)
    audit.record(session, "campaign.segment_added", actor_id=actor.id, entity=campaign, segment=segment,
                 added=result.added, blocked=result.blocked)
    session.commit()
    return result
