"""Teams: admins create and rename them, choose their queue (the calendar their tickets' SLAs count in) and their
members. A team's supervisors are its members with the supervisor role: scope.users gives them the team.

Every change is committed and audited with the values before and after; the next request reads them, so a
supervisor added to a team sees its people at once (an open wallboard at its next reload).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from callcenter.models import Queue, Role, Team, User
from callcenter.services import audit, auth
from callcenter.services.errors import Conflict, Forbidden, NotFound, ValidationFailed
from callcenter.services.messages import t


@dataclass(frozen=True)
class TeamRow:
    """A team as the list shows it."""

    team: Team
    queue_name: str | None
    members: int
    supervisors: list[str]


def _require_admin(actor: User) -> None:
    if actor.role != Role.ADMIN.value:
        raise Forbidden(t("Only an admin may manage teams"))


def list_teams(session: Session, actor: User) -> list[TeamRow]:
    """Every team by name, with its queue, head count and supervisors (admins only)."""
    _require_admin(actor)
    counts: dict[int, int] = {team_id: count for team_id, count in session.execute(
        select(User.team_id, func.count()).where(User.team_id.is_not(None)).group_by(User.team_id))}
    supervisors: dict[int, list[str]] = {}
    for team_id, username in session.execute(
        select(User.team_id, User.username).where(User.role == Role.SUPERVISOR.value, User.team_id.is_not(None))
        .order_by(User.username)
    ):
        supervisors.setdefault(team_id, []).append(username)
    rows = session.execute(select(Team, Queue.name).outerjoin(Queue, Queue.id == Team.queue_id)
                           .order_by(Team.name)).all()
    return [TeamRow(team, queue_name, counts.get(team.id, 0), supervisors.get(team.id, []))
            for team, queue_name in rows]


def get_team(session: Session, actor: User, team_id: int) -> Team:
    _require_admin(actor)
    team = session.get(Team, team_id)
    if team is None:
        raise NotFound(t("Team %(id)s not found", id=team_id), field="team_id")
    return team


def members(session: Session, team_id: int) -> list[User]:
    return list(session.scalars(select(User).where(User.team_id == team_id).order_by(User.username)))


def _check_name(session: Session, name: str, team_id: int | None) -> str:
    name = (name or "").strip()
    if not name:
        raise ValidationFailed(t("A team needs a name"), field="name")
    auth.check_length(name, auth.TEAM_NAME_LENGTH, "name")
    clash = session.scalar(select(Team.id).where(func.lower(Team.name) == name.lower(), Team.id != (team_id or 0)))
    if clash is not None:
        raise Conflict(t("Team name %(name)r is taken", name=name), field="name")
    return name


def _check_queue(session: Session, queue_id: int | None) -> int | None:
    if queue_id is not None and session.get(Queue, queue_id) is None:
        raise ValidationFailed(t("Queue %(id)s not found", id=queue_id), field="queue_id")
    return queue_id


def _snapshot(session: Session, team: Team) -> dict[str, Any]:
    return {"name": team.name, "queue_id": team.queue_id,
            "members": sorted(u.username for u in members(session, team.id))}


def create_team(session: Session, actor: User, name: str, queue_id: int | None = None, *,
                ip_address: str | None = None) -> Team:
    """A new team (admins only); committed and audited."""
    _require_admin(actor)
    team = Team(name=_check_name(session, name, None), queue_id=_check_queue(session, queue_id))
    session.add(team)
    session.flush()
    audit.record(session, "team.created", actor_id=actor.id, entity=team, ip_address=ip_address,
                 after=_snapshot(session, team))
    session.commit()
    return team


def update_team(session: Session, actor: User, team_id: int, *, name: str, queue_id: int | None,
                member_ids: Iterable[int] | None = None, ip_address: str | None = None) -> Team:
    """Rename a team, set its queue and (when `member_ids` is given) exactly its members (admins only).

    A person is in one team: adding someone moves them from their old team; people left out lose their team.
    Committed and audited with before and after (nothing is written when nothing changed).
    """
    team = get_team(session, actor, team_id)
    before = _snapshot(session, team)
    team.name = _check_name(session, name, team.id)
    team.queue_id = _check_queue(session, queue_id)
    if member_ids is not None:
        wanted = set(member_ids)
        found = set(session.scalars(select(User.id).where(User.id.in_(wanted))))
        if missing := sorted(wanted - found):
            raise ValidationFailed(t("User %(user_id)s not found", user_id=missing[0]), field="member_ids")
        for user in members(session, team.id):
            if user.id not in wanted:
                user.team_id = None
        for user in session.scalars(select(User).where(User.id.in_(wanted))):
            user.team_id = team.id
    session.flush()
    after = _snapshot(session, team)
    if after != before:
        changed = sorted(k for k in after if after[k] != before[k])
        audit.record(session, "team.updated", actor_id=actor.id, entity=team, ip_address=ip_address,
                     fields=changed, before={k: before[k] for k in changed}, after={k: after[k] for k in changed})
    session.commit()
    return team


def queue_choices(session: Session) -> list[tuple[int, str]]:
    """(id, name) of every queue, for choosing a team's calendar."""
    return [(row.id, row.name) for row in session.execute(select(Queue.id, Queue.name).order_by(Queue.name))]
