"""Short lists admins keep for the floor: the away reasons agents choose from and the company's phone numbers."""

from __future__ import annotations

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from callcenter.models.base import Base


class AwayReason(Base):
    """A reason an agent may give for being away (break, lunch, ...); the code is what the state log stores."""

    __tablename__ = "away_reasons"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(60), unique=True)
    label: Mapped[str] = mapped_column(String(100))
    active: Mapped[bool] = mapped_column(default=True)


class PhoneNumber(Base):
    """One of the company's numbers: inbound calls to it are answered by the IVR flow holding the same number
    (ivr_flows.phone_number); with `caller_id`, agents may show it on the calls they place."""

    __tablename__ = "phone_numbers"

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str] = mapped_column(String(20), unique=True)  # E.164
    label: Mapped[str] = mapped_column(String(100), default="")
    caller_id: Mapped[bool] = mapped_column(default=False)
    active: Mapped[bool] = mapped_column(default=True)
