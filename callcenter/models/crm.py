"""The CRM: accounts, contacts and their phone numbers (E.164, indexed for caller lookup)."""

from __future__ import annotations

from sqlalchemy import ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from callcenter.models.base import Base, TimestampMixin
from callcenter.models.users import User


class Account(TimestampMixin, Base):
    __tablename__ = "accounts"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), index=True)
    vip: Mapped[bool] = mapped_column(default=False)
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), index=True)

    owner: Mapped[User | None] = relationship()
    contacts: Mapped[list[Contact]] = relationship(back_populates="account")


class Contact(TimestampMixin, Base):
    __tablename__ = "contacts"

    id: Mapped[int] = mapped_column(primary_key=True)
    first_name: Mapped[str] = mapped_column(String(100), default="")
    last_name: Mapped[str] = mapped_column(String(100), default="", index=True)
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
        return f"{self.first_name} {self.last_name}".strip() or (self.email or "Unnamed contact")


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
