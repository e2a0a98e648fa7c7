"""Role-scoped reads: an agent sees their own, a supervisor their team's, an admin everything.

Each function returns a SQL condition to add to a query, so scoping is done by the database, never by
filtering Python lists.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import ColumnElement, and_, exists, false, or_, select, true
from sqlalchemy.orm import Session

from callcenter.models import Account, Call, Callback, CallEvent, Contact, Role, Ticket, User
from callcenter.services import config_cache


@dataclass(frozen=True)
class Viewer:
    """What a scope needs of the user looking: who they are, their role and team, whether they are active."""

    id: int
    role: str
    team_id: int | None
    active: bool


VIEWERS = "viewers"  # config_cache namespace: any write to a user drops them all, here and in the other processes
config_cache.watch(User, VIEWERS)


def viewer(session: Session, user_id: int) -> Viewer | None:
    """The user `user_id` as a scope sees them, from process memory (None: no such user). For the screen-pop, which
    scopes the caller's history for the agent offered the call: loading the agent was a read per pop, on the
    event loop that also answers webhooks."""

    def load() -> Viewer | None:
        row = session.execute(select(User.id, User.role, User.team_id, User.active)
                              .where(User.id == user_id)).one_or_none()
        return None if row is None else Viewer(*row)

    return config_cache.cache.get(VIEWERS, user_id, load)


def _people(user: User | Viewer):
    """The user ids whose work `user` may see: self, or the whole team for a supervisor."""
    if user.role == Role.SUPERVISOR.value and user.team_id is not None:
        return select(User.id).where(User.team_id == user.team_id).scalar_subquery()
    return select(User.id).where(User.id == user.id).scalar_subquery()


# Call events that name an agent who was offered or took the call (a transferred call names both agents).
AGENT_EVENTS = ("offered", "agent_answered")


def _named_by_events(people) -> ColumnElement[bool]:
    """The enclosing query's call was offered to or answered by one of `people`.

    Correlated: the call's own events, found through their indexed call_id. As `calls.id IN (events naming them)`
    the database read every offer and answer event ever recorded, for every check: the screen-pop's history took
    53 ms at 100,000 events on SQLite, on the web worker's event loop."""
    return exists().where(CallEvent.call_id == Call.id, CallEvent.kind.in_(AGENT_EVENTS),
                          CallEvent.data["agent_id"].as_integer().in_(people)).correlate(Call)


def _fixed_scope(user: User | Viewer) -> ColumnElement[bool] | None:
    """true() for an admin, false() for a deactivated user; None when the role's own scope applies."""
    if user.role == Role.ADMIN.value:
        return true()
    if not user.active:
        return false()
    return None


def contacts(user: User) -> ColumnElement[bool]:
    """Contacts owned by, or called with, the visible people: the call's agent, or any agent it was offered to
    or answered by (so the first agent of a transferred call still sees the customer they spoke to)."""
    if (fixed := _fixed_scope(user)) is not None:
        return fixed
    people = _people(user)
    # Correlated like the calls' scope: the contact's own calls through their indexed contact_id, not every call
    # of the people and every event naming them.
    called = exists().where(Call.contact_id == Contact.id,
                            or_(Call.agent_id.in_(people), _named_by_events(people))).correlate(Contact)
    return or_(Contact.owner_id.in_(people), called)


def accounts(user: User) -> ColumnElement[bool]:
    """Accounts owned by the visible people, or holding a contact the user may see."""
    if user.role == Role.ADMIN.value:
        return true()
    visible_contacts = select(Contact.account_id).where(contacts(user), Contact.account_id.is_not(None))
    return or_(Account.owner_id.in_(_people(user)), Account.id.in_(visible_contacts))


def owned_accounts(user: User) -> ColumnElement[bool]:
    """Accounts the user may change: owned by the visible people (one read through a contact is not enough)."""
    if user.role == Role.ADMIN.value:
        return true()
    return Account.owner_id.in_(_people(user))


def assigns_owners(user: User) -> bool:
    """Only supervisors (within their team) and admins give a record to someone else."""
    return user.role in (Role.SUPERVISOR.value, Role.ADMIN.value) and user.active


def calls(user: User | Viewer) -> ColumnElement[bool]:
    """Calls taken by, offered to or answered by the visible people (a transferred call stays with both)."""
    if (fixed := _fixed_scope(user)) is not None:
        return fixed
    people = _people(user)
    return or_(Call.agent_id.in_(people), _named_by_events(people))


def callbacks(user: User) -> ColumnElement[bool]:
    """Callbacks owned, booked or dialled by the visible people."""
    if (fixed := _fixed_scope(user)) is not None:
        return fixed
    people = _people(user)
    return or_(Callback.owner_id.in_(people), Callback.agent_id.in_(people), Callback.created_by_id.in_(people))


def tickets(user: User) -> ColumnElement[bool]:
    """An agent: tickets assigned to them, or unassigned in their team. A supervisor: their team's tickets, those
    assigned to its people, and the undispatched ones (no team, nobody), which someone must dispatch."""
    if (fixed := _fixed_scope(user)) is not None:
        return fixed
    team = Ticket.team_id == user.team_id if user.team_id is not None else false()
    if user.role == Role.SUPERVISOR.value:
        undispatched = and_(Ticket.team_id.is_(None), Ticket.assignee_id.is_(None))
        return or_(team, Ticket.assignee_id.in_(_people(user)), undispatched)
    return or_(Ticket.assignee_id == user.id, and_(Ticket.assignee_id.is_(None), team))


def users(user: User) -> ColumnElement[bool]:
    """Admins see every user, supervisors their team, agents themselves."""
    if user.role == Role.ADMIN.value:
        return true()
    return User.id.in_(_people(user))
