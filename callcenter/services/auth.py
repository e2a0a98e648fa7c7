"""Passwords (Argon2id, memory-hard), login with throttling and no user enumeration, API tokens."""

from __future__ import annotations

import contextlib
import hashlib
import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import redis
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import ColumnElement, func, or_, select
from sqlalchemy.orm import Session

from callcenter.models import ApiToken, Role, Skill, Team, User, UserSkill, utcnow
from callcenter.services import audit, locales
from callcenter.services.errors import AuthenticationFailed, Conflict, TooManyAttempts, ValidationFailed
from callcenter.services.messages import t

log = logging.getLogger(__name__)

# Argon2id at OWASP's recommended minimum: 19 MiB, 2 passes, 1 lane. The library's default profile (RFC 9106's
# low-memory one: 64 MiB, 3 passes, 4 lanes) took 260 ms and 64 MiB for every login: while a floor logged in, that
# was each web process's memory peak (212 MB, over issue 8's 200 MB), and a quarter second in which a gevent web
# process answered nothing else. Hashes made with other parameters are redone at the user's next login.
PASSWORD_TIME_COST, PASSWORD_MEMORY_KIB, PASSWORD_LANES = 2, 19 * 1024, 1
_hasher = PasswordHasher(time_cost=PASSWORD_TIME_COST, memory_cost=PASSWORD_MEMORY_KIB, parallelism=PASSWORD_LANES)
# Verified against when the username is unknown, so both paths cost the same time.
_DUMMY_HASH = _hasher.hash("not a real password")

INVALID_CREDENTIALS = t("Invalid username or password.")
MIN_PASSWORD_LENGTH = 8
GENERATED_PASSWORD_BYTES = 12  # 16 URL-safe characters, about 96 bits
# The column widths of users: longer input is refused with a message rather than failing in the database.
MAX_USERNAME_LENGTH, MAX_FULL_NAME_LENGTH, MAX_EMAIL_LENGTH = 80, 200, 254
TEAM_NAME_LENGTH, SKILL_NAME_LENGTH = 100, 60


def _run_here(work: Callable[[], Any]) -> Any:
    return work()


_run_hashing: Callable[[Callable[[], Any]], Any] = _run_here


def run_hashing_with(runner: Callable[[Callable[[], Any]], Any]) -> None:
    """Hash and verify passwords through `runner(work)`, which returns what `work()` returns or raises.

    The gevent web server passes one that runs the work in a thread of gevent's pool, one hash at a time: Argon2
    is C code that releases the GIL, so a login's 67 ms of hashing no longer stops every webhook of the process,
    and at most one hash's memory is in use."""
    global _run_hashing
    _run_hashing = runner


def hash_password(password: str) -> str:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ValidationFailed(t('Password must be at least %(min_password_length)s characters',
                                 min_password_length=MIN_PASSWORD_LENGTH), field="password")
    return _run_hashing(lambda: _hasher.hash(password))


def generate_password() -> str:
    """A random password an admin hands over once (create, reset); it meets the length rule by far."""
    return secrets.token_urlsafe(GENERATED_PASSWORD_BYTES)


def check_length(value: str | None, limit: int, field: str) -> None:
    """Refuse text longer than its column holds (PostgreSQL would fail the insert, SQLite keep it)."""
    if value is not None and len(value) > limit:
        raise ValidationFailed(t("%(field)s is at most %(limit)s characters", field=field, limit=limit), field=field)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _run_hashing(lambda: _hasher.verify(password_hash, password))
    except (VerificationError, InvalidHashError):
        return False


def _username_key(username: str) -> str:
    """What Redis keeps of a typed username: a digest (a password typed in the wrong box must not be stored)."""
    return hashlib.sha256(username.strip().lower().encode("utf-8", "surrogatepass")).hexdigest()[:32]


@dataclass(frozen=True)
class LoginThrottle:
    """Back-off on failed logins per (username, client address), in Redis.

    Failures are counted per pair over `window_seconds`; from the `max_failures`-th on, that pair waits a back-off
    that doubles with each further failure (30 s, 60 s, ... up to the window). A pair is the unit so that nobody can
    lock a user out by failing on purpose from elsewhere: the right password from another address still works.
    One address alone also gets a larger allowance over all usernames (an office shares one address), so an
    address guessing many usernames is slowed down too.
    """

    redis: redis.Redis
    max_failures: int = 5
    window_seconds: int = 900
    first_backoff_seconds: int = 30

    def _pair(self, username: str, ip_address: str | None) -> str:
        return f"login:fail:pair:{_username_key(username)}:{ip_address or 'unknown'}"

    def _address(self, ip_address: str | None) -> str | None:
        return f"login:fail:ip:{ip_address}" if ip_address else None

    def check(self, username: str, ip_address: str | None) -> None:
        """Raise TooManyAttempts while this pair waits out its back-off, or this address is over its allowance."""
        try:
            waiting = int(self.redis.ttl(self._pair(username, ip_address) + ":wait"))  # -2: no back-off
            if waiting > 0:
                self._refuse(waiting)
            address = self._address(ip_address)
            if address is not None and int(self.redis.get(address) or 0) >= self.max_failures * 4:
                self._refuse(max(int(self.redis.ttl(address)), 1))
        except redis.exceptions.RedisError:
            log.warning("login throttle unavailable (Redis down); allowing the attempt")

    @staticmethod
    def _refuse(retry_after: int) -> None:
        raise TooManyAttempts(t("Too many failed logins. Try again in %(retry_after)s seconds.",
                                retry_after=retry_after), retry_after=retry_after)

    def failed(self, username: str, ip_address: str | None) -> None:
        """Count the failure; at the limit and past it, the pair waits a back-off that doubles each time."""
        try:
            pair = self._pair(username, ip_address)
            pipe = self.redis.pipeline()
            pipe.incr(pair)
            pipe.expire(pair, self.window_seconds)
            address = self._address(ip_address)
            if address is not None:
                pipe.incr(address)
                pipe.expire(address, self.window_seconds)
            count = int(pipe.execute()[0])
            if count >= self.max_failures:
                backoff = min(self.first_backoff_seconds * 2 ** (count - self.max_failures), self.window_seconds)
                self.redis.set(pair + ":wait", "1", ex=max(int(backoff), 1))
        except redis.exceptions.RedisError:
            log.warning("login throttle unavailable (Redis down); failure not counted")

    def succeeded(self, username: str, ip_address: str | None) -> None:
        with contextlib.suppress(redis.exceptions.RedisError):
            pair = self._pair(username, ip_address)
            self.redis.delete(pair, pair + ":wait")


def authenticate(
    session: Session, throttle: LoginThrottle, username: str, password: str, ip_address: str | None = None
) -> User:
    """Return the active user for these credentials; the same error whether the user exists or not.

    A failure is audited with the user's id when the username names a user, else as "unknown": what was typed
    may be a password typed into the username box, and is never stored.
    """
    throttle.check(username, ip_address)
    user = session.scalar(select(User).where(_same_username(username.strip())))
    valid = verify_password(user.password_hash if user else _DUMMY_HASH, password)
    if not (user and valid and user.active):
        throttle.failed(username, ip_address)
        if user is not None:
            audit.record(session, "login.failed", actor_id=None, entity=user, ip_address=ip_address, user_id=user.id)
        else:
            audit.record(session, "login.failed", actor_id=None, ip_address=ip_address, username="unknown")
        session.commit()
        raise AuthenticationFailed(INVALID_CREDENTIALS)
    throttle.succeeded(username, ip_address)
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = _run_hashing(lambda: _hasher.hash(password))
    user.last_login_at = utcnow()
    audit.record(session, "login.succeeded", actor_id=user.id, entity=user, ip_address=ip_address)
    session.commit()
    return user


def get_or_create_team(session: Session, name: str) -> Team:
    check_length(name, TEAM_NAME_LENGTH, "team")
    team = session.scalar(select(Team).where(Team.name == name))
    if team is None:
        team = Team(name=name)
        session.add(team)
        session.flush()
    return team


def get_or_create_skill(session: Session, name: str) -> Skill:
    check_length(name, SKILL_NAME_LENGTH, "skills")
    skill = session.scalar(select(Skill).where(Skill.name == name))
    if skill is None:
        skill = Skill(name=name)
        session.add(skill)
        session.flush()
    return skill


def _same_username(username: str) -> ColumnElement[bool]:
    """Usernames compare without case; the exact spelling too, because SQL lower() may fold ASCII only (SQLite,
    PostgreSQL under the C locale), where "Ärger" would otherwise match neither itself nor "ärger"."""
    return or_(User.username == username, func.lower(User.username) == username.lower())


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
    password_hash: str | None = None,
    language: str | None = None,
    time_zone: str | None = None,
) -> User:
    """Create a user (flushed, not committed); skills map a skill name to a level 1..10.

    `password_hash`, when given, is `hash_password(password)` worked out once by a caller that creates many users
    with one password (the benchmark's floor): each hash costs tens of milliseconds of CPU by design."""
    username = username.strip()
    if not username:
        raise ValidationFailed(t('Username is required'), field="username")
    check_length(username, MAX_USERNAME_LENGTH, "username")
    check_length(full_name.strip(), MAX_FULL_NAME_LENGTH, "full_name")
    check_length(email, MAX_EMAIL_LENGTH, "email")
    if role not in {r.value for r in Role}:
        raise ValidationFailed(t('Role must be one of agent, supervisor, admin (got %(role)r)',
                                 role=role), field="role")
    if session.scalar(select(User.id).where(_same_username(username))):
        raise Conflict(t('Username %(username)r is taken', username=username), field="username")
    user = User(
        username=username,
        full_name=full_name.strip() or username,
        email=email,
        role=role,
        password_hash=password_hash or hash_password(password),
        team=get_or_create_team(session, team) if team else None,
        language=locales.check_language(language),
        time_zone=locales.check_time_zone(time_zone),
    )
    session.add(user)
    for name, level in (skills or {}).items():
        if not 1 <= level <= 10:
            raise ValidationFailed(t('Skill level for %(name)r must be 1..10', name=name), field="skills")
        user.skills.append(UserSkill(skill=get_or_create_skill(session, name), level=level))
    session.flush()
    audit.record(session, "user.created", actor_id=actor_id, entity=user, role=role, after=user_snapshot(user))
    return user


def user_snapshot(user: User) -> dict[str, Any]:
    """What the audit log keeps of a user before and after a change: every field but secrets."""
    return {
        "username": user.username, "full_name": user.full_name, "email": user.email, "role": user.role,
        "team": user.team.name if user.team else None, "active": bool(user.active), "language": user.language,
        "time_zone": user.time_zone, "skills": {row.skill.name: row.level for row in user.skills},
    }


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def issue_api_token(session: Session, user: User, name: str, actor_id: int | None) -> str:
    """Create a token for `user`; the plain token is returned once and never stored."""
    token = "cc_" + secrets.token_urlsafe(32)
    session.add(ApiToken(user_id=user.id, name=name, token_hash=token_digest(token)))
    audit.record(session, "api_token.issued", actor_id=actor_id, entity=user, name=name, after={"name": name})
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
