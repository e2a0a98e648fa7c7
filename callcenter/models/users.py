"""People who use the product: users with a role, teams, skills, API tokens."""

from __future__ import annotations

import hashlib
from datetime import datetime
from enum import StrEnum

from sqlalchemy import CheckConstraint, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from callcenter.models.base import Base, TimestampMixin, utcnow


class Role(StrEnum):
    AGENT = "agent"
    SUPERVISOR = "supervisor"
    ADMIN = "admin"


class Team(Base):
    __tablename__ = "teams"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    # The queue whose business hours and holidays the team works by (ticket SLAs count in them); None: the
    # default calendar (services.service_agreements).
    queue_id: Mapped[int | None] = mapped_column(ForeignKey("queues.id", ondelete="SET NULL"))

    members: Mapped[list[User]] = relationship(back_populates="team")


class User(TimestampMixin, Base):
    __tablename__ = "users"
    __table_args__ = (CheckConstraint("role in ('agent', 'supervisor', 'admin')", name="role_valid"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(80), unique=True)
    full_name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str | None] = mapped_column(String(254))
    role: Mapped[str] = mapped_column(String(16), default=Role.AGENT.value)
    team_id: Mapped[int | None] = mapped_column(ForeignKey("teams.id"), index=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    active: Mapped[bool] = mapped_column(default=True)
    last_login_at: Mapped[datetime | None]
    # The person's screens: a locale code (en, zh_Hans) or None for the browser's Accept-Language, and an IANA
    # time zone or None for UTC on the server (the browser's own zone in the pages).
    language: Mapped[str | None] = mapped_column(String(16))
    time_zone: Mapped[str | None] = mapped_column(String(64))
    # Bumped by "sign out everywhere": part of the session fingerprint, so every session, remember-me cookie and
    # console socket made before the bump is refused on its next request or connect.
    session_generation: Mapped[int] = mapped_column(default=0, server_default="0")

    team: Mapped[Team | None] = relationship(back_populates="members")
    skills: Mapped[list[UserSkill]] = relationship(back_populates="user", cascade="all, delete-orphan")

    # Flask-Login protocol, kept here because it is identity, not a domain rule.
    @property
    def is_active(self) -> bool:
        return self.active

    @property
    def is_authenticated(self) -> bool:
        return True

    @property
    def is_anonymous(self) -> bool:
        return False

    @property
    def session_fingerprint(self) -> str:
        """Changes with the password (a new hash, new salt) and with `session_generation`: sessions and
        remember-me cookies carry it, so a password change or "sign out everywhere" ends every one of them that
        was signed in before. Generation 0 keeps the password-only value, so sessions survive the upgrade."""
        material = self.password_hash
        if self.session_generation:
            material = f"{material}:{self.session_generation}"
        return hashlib.sha256(material.encode()).hexdigest()[:20]

    def get_id(self) -> str:
        """What the session and the remember-me cookie store: `<id>:<session_fingerprint>`."""
        return f"{self.id}:{self.session_fingerprint}"


class Skill(Base):
    __tablename__ = "skills"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(60), unique=True)


class UserSkill(Base):
    """A skill an agent has, with a level from 1 (basic) to 10 (expert)."""

    __tablename__ = "user_skills"
    __table_args__ = (
        UniqueConstraint("user_id", "skill_id", name="uq_user_skills_user_skill"),
        CheckConstraint("level between 1 and 10", name="level_range"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    skill_id: Mapped[int] = mapped_column(ForeignKey("skills.id", ondelete="CASCADE"), index=True)
    level: Mapped[int] = mapped_column(default=5)

    user: Mapped[User] = relationship(back_populates="skills")
    skill: Mapped[Skill] = relationship()


class ApiToken(Base):
    """A bearer token an admin issues; only its SHA-256 is stored."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]

    user: Mapped[User] = relationship()
