"""The CRM: accounts, contacts and their phone numbers (E.164, indexed for caller lookup)."""

from __future__ import annotations

import unicodedata
from decimal import Decimal

from sqlalchemy import ForeignKey, Numeric, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from callcenter.models.base import Base, TimestampMixin
from callcenter.models.users import User


class Account(TimestampMixin, Base):
    __tablename__ = "accounts"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), index=True)
    vip: Mapped[bool] = mapped_column(default=False)
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), index=True)
    # The SLA tier of the account's tickets (None: the default tier setting).
    service_agreement_id: Mapped[int | None] = mapped_column(
        ForeignKey("service_agreements.id", ondelete="SET NULL"), index=True)
    # What the account is worth to the business (e.g. yearly revenue): the "value" of customer analysis (RFM).
    value: Mapped[Decimal | None] = mapped_column(Numeric(14, 2))

    owner: Mapped[User | None] = relationship()
    contacts: Mapped[list[Contact]] = relationship(back_populates="account")


class Contact(TimestampMixin, Base):
    __tablename__ = "contacts"

    id: Mapped[int] = mapped_column(primary_key=True)
    first_name: Mapped[str] = mapped_column(String(100), default="")
    last_name: Mapped[str] = mapped_column(String(100), default="", index=True)
    # The name as one piece, for people whose names have no first/last split (or who are written family name
    # first, like 王小明): shown as it is when set.
    full_name: Mapped[str] = mapped_column(String(200), default="")
    email: Mapped[str | None] = mapped_column(String(254), index=True)
    account_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id", ondelete="SET NULL"), index=True)
    vip: Mapped[bool] = mapped_column(default=False)
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), index=True)
    time_zone: Mapped[str | None] = mapped_column(String(64))
    language: Mapped[str | None] = mapped_column(String(16))
    notes: Mapped[str] = mapped_column(Text, default="")

    account: Mapped[Account | None] = relationship(back_populates="contacts")
    owner: Mapped[User | None] = relationship()
    phones: Mapped[list[ContactPhone]] = relationship(
        back_populates="contact", cascade="all, delete-orphan", order_by="ContactPhone.id"
    )

    @property
    def display_name(self) -> str:
        """The full name when given; else the parts in the order their script writes them (Chinese, Japanese and
        Korean names family name first and without a space: 王小明), else the email."""
        if (self.full_name or "").strip():
            return self.full_name.strip()
        first, last = (self.first_name or "").strip(), (self.last_name or "").strip()
        if first and last and _east_asian(first + last):
            return last + first
        return f"{first} {last}".strip() or (self.email or "Unnamed contact")


def _east_asian(text: str) -> bool:
    """Written in Han, Kana or Hangul (names in these scripts put the family name first, with no space)."""
    letters = [c for c in text if c.isalpha()]
    return bool(letters) and all(
        unicodedata.name(c, "").startswith(("CJK", "HIRAGANA", "KATAKANA", "HANGUL")) for c in letters)


class ContactPhone(Base):
    """One of a contact's numbers; `e164` is the lookup key, `raw` what the user typed."""

    __tablename__ = "contact_phones"
    __table_args__ = (UniqueConstraint("contact_id", "e164", name="uq_contact_phones_contact_e164"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"), index=True)
    e164: Mapped[str] = mapped_column(String(20), index=True)
    raw: Mapped[str] = mapped_column(String(64))
    label: Mapped[str] = mapped_column(String(20), default="mobile")

    contact: Mapped[Contact] = relationship(back_populates="phones")
