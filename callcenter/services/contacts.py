"""Contacts and accounts: create, read, update, search, and caller lookup by any number."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session, selectinload

from callcenter.models import Account, Contact, ContactPhone, ServiceAgreement, User
from callcenter.services import audit, scope
from callcenter.services.errors import Forbidden, NotFound, ValidationFailed
from callcenter.services.messages import t
from callcenter.services.phones import to_e164, try_e164

CONTACT_FIELDS = ("first_name", "last_name", "full_name", "email", "account_id", "vip", "owner_id", "time_zone",
                  "language", "notes")


@dataclass(frozen=True)
class PhoneInput:
    number: str
    label: str = "mobile"
    region: str | None = None  # the country a national-format number belongs to ("CN"); default: the app's


def _normalise_phones(phones: list[PhoneInput], region: str) -> list[ContactPhone]:
    seen: set[str] = set()
    result = []
    for index, phone in enumerate(phones):
        e164 = to_e164(phone.number, phone.region or region, field=f"phones.{index}.number")
        if e164 in seen:
            continue  # the same number typed twice in two formats
        seen.add(e164)
        result.append(ContactPhone(e164=e164, raw=phone.number.strip(), label=phone.label or "mobile"))
    return result


def _check_email(email: str | None) -> str | None:
    if email is None:
        return None
    email = email.strip()
    if not email:
        return None
    if "@" not in email or email.startswith("@") or email.endswith("@"):
        raise ValidationFailed(t('%(email)r is not an email address', email=email), field="email")
    return email.lower()


def _check_refs(session: Session, actor: User, values: dict[str, Any], current_owner_id: int | None) -> None:
    """References must stay inside the actor's scope: an account they may see, and an owner change only by a
    supervisor (to someone of their team) or an admin. Out of scope reads like "not found" (no existence leak)."""
    account_id = values.get("account_id")
    if account_id is not None and session.scalar(
            select(Account.id).where(Account.id == account_id, scope.accounts(actor))) is None:
        raise ValidationFailed(t('Account %(account_id)s not found', account_id=account_id), field="account_id")
    if values.get("service_agreement_id") is not None:
        if not scope.assigns_owners(actor):
            raise Forbidden(t("Only supervisors and admins set an account's service agreement"),
                            field="service_agreement_id")
        if session.get(ServiceAgreement, values["service_agreement_id"]) is None:
            raise ValidationFailed(t('Service agreement %(id)s not found', id=values["service_agreement_id"]),
                                   field="service_agreement_id")
    if "owner_id" not in values or values["owner_id"] == current_owner_id:
        return
    if not scope.assigns_owners(actor):
        raise Forbidden(t('Only supervisors and admins give a record to another owner'), field="owner_id")
    owner_id = values["owner_id"]
    if owner_id is not None and session.scalar(
            select(User.id).where(User.id == owner_id, scope.users(actor))) is None:
        raise ValidationFailed(t('User %(owner_id)s not found', owner_id=owner_id), field="owner_id")


def create_contact(
    session: Session, actor: User, values: dict[str, Any], phones: list[PhoneInput], region: str = "US"
) -> Contact:
    """Create a contact owned by `actor` unless another owner is given; committed."""
    values = {k: v for k, v in values.items() if k in CONTACT_FIELDS}
    values["email"] = _check_email(values.get("email"))
    values.setdefault("owner_id", actor.id)
    _check_refs(session, actor, values, current_owner_id=actor.id)
    if not (values.get("first_name") or values.get("last_name") or values.get("full_name") or values.get("email")
            or phones):
        raise ValidationFailed(t('A contact needs a name, an email or a phone number'), field="last_name")
    contact = Contact(**values)
    contact.phones = _normalise_phones(phones, region)
    session.add(contact)
    session.flush()
    audit.record(session, "contact.created", actor_id=actor.id, entity=contact)
    session.commit()
    return contact


def get_contact(session: Session, actor: User, contact_id: int) -> Contact:
    """A contact the actor may see; out of scope reads as not found (existence is not leaked)."""
    contact = session.scalar(
        select(Contact)
        .where(Contact.id == contact_id, scope.contacts(actor))
        .options(selectinload(Contact.phones), selectinload(Contact.account))
    )
    if contact is None:
        raise NotFound(t('Contact %(contact_id)s not found', contact_id=contact_id))
    return contact


def update_contact(
    session: Session,
    actor: User,
    contact_id: int,
    values: dict[str, Any],
    phones: list[PhoneInput] | None = None,
    region: str = "US",
) -> Contact:
    """Change the given fields; `phones`, when given, replaces the whole list."""
    contact = get_contact(session, actor, contact_id)
    values = {k: v for k, v in values.items() if k in CONTACT_FIELDS}
    if "email" in values:
        values["email"] = _check_email(values["email"])
    _check_refs(session, actor, values, current_owner_id=contact.owner_id)
    changed = sorted(k for k, v in values.items() if getattr(contact, k) != v)
    for key, value in values.items():
        setattr(contact, key, value)
    if "account_id" in values:
        session.flush()
        session.expire(contact, ["account"])  # the loaded relationship still points at the old account
    if phones is not None:
        new = {p.e164: p for p in _normalise_phones(phones, region)}
        contact.phones = [p for p in contact.phones if p.e164 in new]
        kept = {p.e164 for p in contact.phones}
        contact.phones.extend(p for e164, p in new.items() if e164 not in kept)
        changed.append("phones")
    audit.record(session, "contact.updated", actor_id=actor.id, entity=contact, fields=changed)
    session.commit()
    return contact


def search_contacts(
    session: Session, actor: User, query: str = "", *, limit: int = 50, offset: int = 0, region: str = "US"
) -> tuple[list[Contact], int]:
    """Match name, email, account name, or any phone number in any common format; returns (page, total).

    Names match as substrings, case-insensitively where the script has case: "first last", "lastfirst" (how
    Chinese names are written: 王小明) and the one-piece full name. Lowering leaves CJK text as it is on both
    SQLite and PostgreSQL, so a Chinese query matches Chinese names as typed.
    """
    condition = scope.contacts(actor)
    text = query.strip()
    statement = select(Contact).where(condition)
    if text:
        like = f"%{text.lower()}%"
        matches = [
            func.lower(Contact.first_name + " " + Contact.last_name).like(like),
            func.lower(Contact.last_name + Contact.first_name).like(like),
            func.lower(Contact.full_name).like(like),
            func.lower(Contact.email).like(like),
            Contact.account_id.in_(select(Account.id).where(func.lower(Account.name).like(like))),
        ]
        e164 = try_e164(text, region) if sum(c.isdigit() for c in text) >= 6 else None
        if e164:
            matches.append(Contact.id.in_(select(ContactPhone.contact_id).where(ContactPhone.e164 == e164)))
        statement = statement.where(or_(*matches))
    total = session.scalar(select(func.count()).select_from(statement.subquery())) or 0
    page = session.scalars(
        statement.options(selectinload(Contact.phones), selectinload(Contact.account))
        .order_by(Contact.last_name, Contact.first_name, Contact.id)
        .limit(limit)
        .offset(offset)
    ).all()
    return list(page), total


def contacts_for_number(session: Session, e164: str) -> list[Contact]:
    """Every contact with this number among their phones (caller lookup; not role-scoped, the carrier asks)."""
    return list(
        session.scalars(
            select(Contact)
            .join(ContactPhone)
            .where(ContactPhone.e164 == e164)
            .options(selectinload(Contact.account), selectinload(Contact.phones))
            .order_by(Contact.id)
        ).unique()
    )


ACCOUNT_FIELDS = ("name", "vip", "owner_id", "service_agreement_id", "value")


def create_account(session: Session, actor: User, values: dict[str, Any]) -> Account:
    values = {k: v for k, v in values.items() if k in ACCOUNT_FIELDS}
    if not (values.get("name") or "").strip():
        raise ValidationFailed(t('Account name is required'), field="name")
    values.setdefault("owner_id", actor.id)
    _check_refs(session, actor, values, current_owner_id=actor.id)
    account = Account(**values)
    session.add(account)
    session.flush()
    audit.record(session, "account.created", actor_id=actor.id, entity=account)
    session.commit()
    return account


def get_account(session: Session, actor: User, account_id: int) -> Account:
    account = session.scalar(select(Account).where(Account.id == account_id, scope.accounts(actor)))
    if account is None:
        raise NotFound(t('Account %(account_id)s not found', account_id=account_id))
    return account


def update_account(session: Session, actor: User, account_id: int, values: dict[str, Any]) -> Account:
    """Change an account the actor's people own; one only seen through a contact answers 403."""
    account = get_account(session, actor, account_id)
    if session.scalar(select(Account.id).where(Account.id == account.id, scope.owned_accounts(actor))) is None:
        raise Forbidden(t('Account %(account_id)s belongs to another team; ask its owner or a supervisor',
                          account_id=account_id))
    values = {k: v for k, v in values.items() if k in ACCOUNT_FIELDS}
    if "name" in values and not (values["name"] or "").strip():
        raise ValidationFailed(t('Account name is required'), field="name")
    _check_refs(session, actor, values, current_owner_id=account.owner_id)
    for key, value in values.items():
        setattr(account, key, value)
    audit.record(session, "account.updated", actor_id=actor.id, entity=account, fields=sorted(values))
    session.commit()
    return account


def search_accounts(
    session: Session, actor: User, query: str = "", *, limit: int = 50, offset: int = 0
) -> tuple[list[Account], int]:
    statement = select(Account).where(scope.accounts(actor))
    if query.strip():
        statement = statement.where(func.lower(Account.name).like(f"%{query.strip().lower()}%"))
    total = session.scalar(select(func.count()).select_from(statement.subquery())) or 0
    page = session.scalars(statement.order_by(Account.name, Account.id).limit(limit).offset(offset)).all()
    return list(page), total
