"""Managing people and their API tokens: admins change users and tokens, everyone reads within their scope."""

from __future__ import annotations

from typing import Any

import redis
from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session, selectinload

from callcenter.models import ApiToken, Role, Skill, User, UserSkill, utcnow
from callcenter.services import agent_state, audit, auth, locales, scope
from callcenter.services.errors import Forbidden, NotFound, ValidationFailed
from callcenter.services.events import publish_after_commit
from callcenter.services.messages import Message, t

TOKEN_NAME_LENGTH = 100
USER_FIELDS = ("full_name", "email", "role", "team", "active", "password", "skills", "language", "time_zone")


def _require_admin(actor: User, doing: Message) -> None:
    """Managing people and credentials is an admin's job; everyone else gets a clear 403."""
    if actor.role != Role.ADMIN.value:
        raise Forbidden(t('Only an admin may %(doing)s', doing=doing))


def list_users(
    session: Session, actor: User, query: str = "", *, limit: int = 50, offset: int = 0, role: str | None = None,
    team_id: int | None = None, no_team: bool = False, active: bool | None = None,
) -> tuple[list[User], int]:
    """Users the actor may see (scope.users), matching username, name or email, and the role, team and
    active filters given; returns (page, total)."""
    statement = select(User).where(scope.users(actor))
    if role is not None:
        statement = statement.where(User.role == role)
    if no_team:
        statement = statement.where(User.team_id.is_(None))
    elif team_id is not None:
        statement = statement.where(User.team_id == team_id)
    if active is not None:
        statement = statement.where(User.active.is_(active))
    text = query.strip().lower()
    if text:
        like = f"%{text}%"
        statement = statement.where(
            or_(
                func.lower(User.username).like(like),
                func.lower(User.full_name).like(like),
                func.lower(User.email).like(like),
            )
        )
    total = session.scalar(select(func.count()).select_from(statement.subquery())) or 0
    page = session.scalars(
        statement.options(selectinload(User.team), selectinload(User.skills).selectinload(UserSkill.skill))
        .order_by(User.username, User.id)
        .limit(limit)
        .offset(offset)
    ).all()
    return list(page), total


def get_user(session: Session, actor: User, user_id: int) -> User:
    """A user the actor may see; out of scope reads as not found."""
    user = session.scalar(select(User).where(User.id == user_id, scope.users(actor)))
    if user is None:
        raise NotFound(t('User %(user_id)s not found', user_id=user_id))
    return user


def create_user(session: Session, actor: User, values: dict[str, Any]) -> User:
    """Create a user (admins only); committed, audited by services.auth.create_user."""
    _require_admin(actor, t("create users"))
    user = auth.create_user(
        session,
        username=values.get("username") or "",
        password=values.get("password") or "",
        full_name=values.get("full_name") or "",
        role=values.get("role") or Role.AGENT.value,
        email=values.get("email"),
        team=values.get("team"),
        skills=values.get("skills"),
        actor_id=actor.id,
        language=values.get("language"),
        time_zone=values.get("time_zone"),
    )
    session.commit()
    return user


def update_user(
    session: Session, actor: User, user_id: int, values: dict[str, Any], *, ip_address: str | None = None,
    r: redis.Redis | None = None,
) -> User:
    """Change the given fields (admins only); `skills` replaces the whole set. Committed and audited.

    An admin cannot deactivate or demote themselves: that is how the last admin locks everyone out.
    With `r`, new skills reach routing at once (the agent's cached skills and the ACD's skill index), not at
    the agent's next login.
    """
    _require_admin(actor, t("change users"))
    user = get_user(session, actor, user_id)
    values = {k: v for k, v in values.items() if k in USER_FIELDS}
    if user.id == actor.id:
        if values.get("active") is False:
            raise ValidationFailed(t('You cannot deactivate your own account'), field="active")
        if "role" in values and values["role"] != Role.ADMIN.value:
            raise ValidationFailed(t('You cannot remove your own admin role'), field="role")
    before = auth.user_snapshot(user)
    changed: list[str] = []
    if "role" in values:
        if values["role"] not in {r.value for r in Role}:
            raise ValidationFailed(
                t('Role must be one of agent, supervisor, admin (got %(role)r)', role=values['role']), field="role"
            )
        if user.role != values["role"]:
            user.role = values["role"]
            changed.append("role")
    if "full_name" in values:
        full_name = (values["full_name"] or "").strip() or user.username
        auth.check_length(full_name, auth.MAX_FULL_NAME_LENGTH, "full_name")
        if full_name != user.full_name:
            user.full_name = full_name
            changed.append("full_name")
    if "email" in values and values["email"] != user.email:
        auth.check_length(values["email"], auth.MAX_EMAIL_LENGTH, "email")
        user.email = values["email"]
        changed.append("email")
    if "active" in values and values["active"] != user.active:
        user.active = bool(values["active"])
        changed.append("active")
    if "team" in values:
        team = auth.get_or_create_team(session, values["team"]) if values["team"] else None
        if team is not user.team:
            user.team = team
            changed.append("team")
    if "password" in values:
        user.password_hash = auth.hash_password(values["password"] or "")
        changed.append("password")
    if "skills" in values:
        _replace_skills(session, user, values["skills"] or {})
        changed.append("skills")
    changed += _apply_locale(user, values)
    session.flush()
    after = auth.user_snapshot(user)
    # Secrets (the password) are named in `fields`, never shown before or after.
    shown = {field: (before[field], after[field]) for field in changed if field in after}
    audit.record(
        session, "user.updated", actor_id=actor.id, entity=user, ip_address=ip_address, fields=sorted(changed),
        **({"before": {k: v[0] for k, v in shown.items()}, "after": {k: v[1] for k, v in shown.items()}}
           if shown else {}),
    )
    deactivated = "active" in changed and not user.active
    if "password" in changed or deactivated:
        # Sessions signed in before are refused from now on; consoles already open are closed as well, since
        # their heartbeats and acknowledgements do not load the user.
        publish_after_commit(session, "user.sessions_ended", user_id=user.id)
    session.commit()
    if r is not None and "skills" in changed:
        agent_state.refresh_agent(session, r, user.id)
    if r is not None and deactivated:
        withdraw_from_routing(session, r, user.id)
    return user


def withdraw_from_routing(session: Session, r: redis.Redis, user_id: int) -> None:
    """A deactivated agent gets no further call: offline at once when between calls; while an offer or a call
    is in progress they are marked disconnected (no new offers), so the offer goes back to the queue after the
    grace period and the call in progress is never dropped (agent_state.expire_disconnected)."""
    presence = agent_state.get_presence(r, user_id)
    if presence.state == agent_state.OFFLINE:
        return
    try:
        agent_state.change_state(session, r, user_id, agent_state.OFFLINE, "deactivated")
    except agent_state.IllegalTransition:
        agent_state.disconnected(session, r, user_id)


def reset_password(
    session: Session, actor: User, user_id: int, password: str | None = None, *, ip_address: str | None = None,
    r: redis.Redis | None = None,
) -> tuple[User, str | None]:
    """Set a new password (admins only): the one typed, or a generated one when none is given, returned once
    for the admin to hand over. Every session the user had ends (update_user). Returns (user, generated)."""
    generated = None if password else auth.generate_password()
    user = update_user(session, actor, user_id, {"password": password or generated}, ip_address=ip_address, r=r)
    return user, generated


def sign_out_everywhere(session: Session, actor: User, user_id: int, *, ip_address: str | None = None) -> User:
    """End every session, remember-me cookie and open console of a user (admins only), without touching the
    password or API tokens: the session fingerprint changes with the generation, so each is refused next time."""
    _require_admin(actor, t("sign people out"))
    user = get_user(session, actor, user_id)
    before = user.session_generation or 0
    user.session_generation = before + 1
    audit.record(session, "user.signed_out_everywhere", actor_id=actor.id, entity=user, ip_address=ip_address,
                 before={"session_generation": before}, after={"session_generation": before + 1})
    publish_after_commit(session, "user.sessions_ended", user_id=user.id)
    session.commit()
    return user


def _apply_locale(user: User, values: dict[str, Any]) -> list[str]:
    """Set `language` / `time_zone` when given (None or "" resets to the default); returns the fields changed."""
    changed = []
    if "language" in values:
        language = locales.check_language(values["language"])
        if language != user.language:
            user.language = language
            changed.append("language")
    if "time_zone" in values:
        zone = locales.check_time_zone(values["time_zone"])
        if zone != user.time_zone:
            user.time_zone = zone
            changed.append("time_zone")
    return changed


def update_own_locale(
    session: Session, user: User, language: str | None, time_zone: str | None, *, ip_address: str | None = None
) -> User:
    """Anyone chooses the language and time zone of their own screens (the profile page). Committed, audited."""
    changed = _apply_locale(user, {"language": language, "time_zone": time_zone})
    if changed:
        audit.record(session, "user.updated", actor_id=user.id, entity=user, ip_address=ip_address,
                     fields=sorted(changed))
    session.commit()
    return user


def skill_names(session: Session) -> list[str]:
    """Every skill anyone may be given, by name."""
    return list(session.scalars(select(Skill.name).order_by(Skill.name)))


def _replace_skills(session: Session, user: User, skills: dict[str, int]) -> None:
    """Set the user's skills to exactly `skills` (name -> level 1..10), keeping rows whose skill stays."""
    for name, level in skills.items():
        if not 1 <= level <= 10:
            raise ValidationFailed(t('Skill level for %(name)r must be 1..10', name=name), field="skills")
    wanted = {auth.get_or_create_skill(session, name).id: level for name, level in skills.items()}
    user.skills = [s for s in user.skills if s.skill_id in wanted]
    for row in user.skills:
        row.level = wanted.pop(row.skill_id)
    for skill_id, level in wanted.items():
        user.skills.append(UserSkill(skill_id=skill_id, level=level))
    session.flush()


def issue_token(
    session: Session, actor: User, user_id: int, name: str, *, ip_address: str | None = None
) -> tuple[ApiToken, str]:
    """Issue an API token for a user (admins only); returns the stored record and the plain token, shown once."""
    _require_admin(actor, t("issue API tokens"))
    user = get_user(session, actor, user_id)
    name = name.strip()
    if not name:
        raise ValidationFailed(t('A token needs a name that says what it is for'), field="name")
    auth.check_length(name, TOKEN_NAME_LENGTH, "name")
    if not user.active:
        raise ValidationFailed(t('User %(username)r is inactive; a token for them would not work',
                                 username=user.username), field="user_id")
    plain = auth.issue_api_token(session, user, name, actor_id=actor.id)
    session.flush()
    record = session.scalar(select(ApiToken).where(ApiToken.token_hash == auth.token_digest(plain)))
    if record is None:  # issue_api_token adds the row in this transaction; absence is a programming error
        raise RuntimeError("issued token not found")
    session.commit()
    return record, plain


def list_tokens(session: Session, actor: User, user_id: int) -> list[ApiToken]:
    """A user's tokens, newest first, revoked ones included (admins only); never the secret."""
    _require_admin(actor, t("list API tokens"))
    user = get_user(session, actor, user_id)
    return list(
        session.scalars(select(ApiToken).where(ApiToken.user_id == user.id).order_by(ApiToken.id.desc())).all()
    )


def all_tokens(session: Session, actor: User, user_id: int | None = None, *, include_revoked: bool = True,
               limit: int = 500) -> list[ApiToken]:
    """Tokens of every user (or of one), newest first, with their user loaded (admins only); never the secret."""
    _require_admin(actor, t("list API tokens"))
    statement = select(ApiToken).options(selectinload(ApiToken.user))
    if user_id is not None:
        statement = statement.where(ApiToken.user_id == user_id)
    if not include_revoked:
        statement = statement.where(ApiToken.revoked_at.is_(None))
    return list(session.scalars(statement.order_by(ApiToken.id.desc()).limit(limit)).all())


def revoke_token(session: Session, actor: User, token_id: int, *, ip_address: str | None = None) -> ApiToken:
    """Revoke a token (admins only); revoking twice is a no-op, audited once."""
    _require_admin(actor, t("revoke API tokens"))
    record = session.get(ApiToken, token_id)
    if record is None:
        raise NotFound(t('API token %(token_id)s not found', token_id=token_id))
    if record.revoked_at is None:
        record.revoked_at = utcnow()
        audit.record(
            session,
            "api_token.revoked",
            actor_id=actor.id,
            entity=record,
            ip_address=ip_address,
            user_id=record.user_id,
            name=record.name,
            before={"revoked_at": None},
            after={"revoked_at": record.revoked_at.isoformat()},
        )
        session.commit()
    return record
