"""Passwords (Argon2id, memory-hard), login with throttling and no user enumeration, API tokens."""

from __future__ import annotations

import contextlib
import hashlib
import logging
import secrets
from dataclasses import dataclass

import redis
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from callcenter.models import ApiToken, Role, Skill, Team, User, UserSkill, utcnow
from callcenter.services import audit
from callcenter.services.errors import AuthenticationFailed, Conflict, TooManyAttempts, ValidationFailed
from callcenter.services.messages import t

log = logging.getLogger(__name__)

_hasher = PasswordHasher()  # argon2id with the library's recommended memory/time cost
# Verified against when the username is unknown, so both paths cost the same time.
_DUMMY_HASH = _hasher.hash("not a real password")

INVALID_CREDENTIALS = t("Invalid username or password.")
MIN_PASSWORD_LENGTH = 8


def hash_password(password: str) -> str:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ValidationFailed(t('Password must be at least %(min_password_length)s characters',
                                 min_password_length=MIN_PASSWORD_LENGTH), field="password")
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


@dataclass(frozen=True)
class LoginThrottle:
    """Counts failed logins per username and per client address in Redis, over a sliding lockout window."""

    redis: redis.Redis
    max_failures: int = 5
    window_seconds: int = 900

    def _keys(self, username: str, ip_address: str | None) -> list[str]:
        keys = [f"login:fail:user:{username.strip().lower()}"]
        if ip_address:
            # Per address the allowance is larger: an office shares one address.
            keys.append(f"login:fail:ip:{ip_address}")
        return keys

    def check(self, username: str, ip_address: str | None) -> None:
        """Raise TooManyAttempts while either counter is over its limit."""
        try:
            for key in self._keys(username, ip_address):
                limit = self.max_failures if ":user:" in key else self.max_failures * 4
                count = int(self.redis.get(key) or 0)
                if count >= limit:
                    retry_after = max(int(self.redis.ttl(key)), 1)
                    raise TooManyAttempts(
                        t('Too many failed logins. Try again in %(retry_after)s seconds.',
                          retry_after=retry_after), retry_after=retry_after
                    )
        except redis.exceptions.RedisError:
            log.warning("login throttle unavailable (Redis down); allowing the attempt")

    def failed(self, username: str, ip_address: str | None) -> None:
        try:
            pipe = self.redis.pipeline()
            for key in self._keys(username, ip_address):
                pipe.incr(key)
                pipe.expire(key, self.window_seconds)
            pipe.execute()
        except redis.exceptions.RedisError:
            log.warning("login throttle unavailable (Redis down); failure not counted")

    def succeeded(self, username: str) -> None:
        with contextlib.suppress(redis.exceptions.RedisError):
            self.redis.delete(self._keys(username, None)[0])


def authenticate(
    session: Session, throttle: LoginThrottle, username: str, password: str, ip_address: str | None = None
) -> User:
    """Return the active user for these credentials; the same error whether the user exists or not."""
    throttle.check(username, ip_address)
    user = session.scalar(select(User).where(func.lower(User.username) == username.strip().lower()))
    valid = verify_password(user.password_hash if user else _DUMMY_HASH, password)
    if not (user and valid and user.active):
        throttle.failed(username, ip_address)
        audit.record(session, "login.failed", actor_id=None, ip_address=ip_address, username=username[:80])
        session.commit()
        raise AuthenticationFailed(INVALID_CREDENTIALS)
    throttle.succeeded(username)
    user.last_login_at = utcnow()
    audit.record(session, "login.succeeded", actor_id=user.id, entity=user, ip_address=ip_address)
    session.commit()
    return user


def get_or_create_team(session: Session, name: str) -> Team:
    team = session.scalar(select(Team).where(Team.name == name))
    if team is None:
        team = Team(name=name)
        session.add(team)
        session.flush()
    return team


def get_or_create_skill(session: Session, name: str) -> Skill:
    skill = session.scalar(select(Skill).where(Skill.name == name))
    if skill is None:
        skill = Skill(name=name)
        session.add(skill)
        session.flush()
    return skill


def create_user(
    session: Session,
    *,
    username: str,
    password: str,
    full_name: str,
    role: str = Role.AGENT.value,
    email: str | None = None,
    team: str | None = None,
    skills: dict[str, int] | None = None,
    actor_id: int | None = None,
) -> User:
    """Create a user (flushed, not committed); skills map a skill name to a level 1..10."""
    username = username.strip()
    if not username:
        raise ValidationFailed(t('Username is required'), field="username")
    if role not in {r.value for r in Role}:
        raise ValidationFailed(t('Role must be one of agent, supervisor, admin (got %(role)r)',
                                 role=role), field="role")
    if session.scalar(select(User.id).where(func.lower(User.username) == username.lower())):
        raise Conflict(t('Username %(username)r is taken', username=username), field="username")
    user = User(
        username=username,
        full_name=full_name.strip() or username,
        email=email,
        role=role,
        password_hash=hash_password(password),
        team=get_or_create_team(session, team) if team else None,
    )
    session.add(user)
    for name, level in (skills or {}).items():
        if not 1 <= level <= 10:
            raise ValidationFailed(t('Skill level for %(name)r must be 1..10', name=name), field="skills")
        user.skills.append(UserSkill(skill=get_or_create_skill(session, name), level=level))
    session.flush()
    audit.record(session, "user.created", actor_id=actor_id, entity=user, role=role)
    return user


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def issue_api_token(session: Session, user: User, name: str, actor_id: int | None) -> str:
    """Create a token for `user`; the plain token is returned once and never stored."""
    token = "cc_" + secrets.token_urlsafe(32)
    session.add(ApiToken(user_id=user.id, name=name, token_hash=token_digest(token)))
    audit.record(session, "api_token.issued", actor_id=actor_id, entity=user, name=name)
    return token


def user_for_token(session: Session, token: str) -> User | None:
    """The active user a valid, unrevoked token belongs to."""
    record = session.scalar(
        select(ApiToken).where(ApiToken.token_hash == token_digest(token), ApiToken.revoked_at.is_(None))
    )
    if record is None or not record.user.active:
        return None
    record.last_used_at = utcnow()
    return record.user
