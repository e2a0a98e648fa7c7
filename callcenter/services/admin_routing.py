"""What admins set up for routing: queues (skills, hours, holidays, timers), skills and who holds them,
dispositions, away reasons and the company's phone numbers.

Every change is committed here, audited with the values before and after, and reaches running processes without
a restart: queue, skill and flow rows are watched by config_cache (their snapshots drop in every process at
commit), and an agent's skills are re-cached in Redis for the ACD as soon as they change (`r`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import date
from typing import Any

import redis
from sqlalchemy import and_, false, func, select, true
from sqlalchemy.orm import Session, selectinload

from callcenter.models import (
    AwayReason,
    Disposition,
    Holiday,
    IvrFlow,
    PhoneNumber,
    Queue,
    QueueSkill,
    Role,
    Skill,
    User,
    UserSkill,
)
from callcenter.models.routing import DEFAULT_BUSINESS_HOURS
from callcenter.services import agent_state, audit, business_hours, ivr_flows, locales, recordings
from callcenter.services.errors import Conflict, Forbidden, NotFound, ValidationFailed
from callcenter.services.messages import Message, t
from callcenter.services.phones import to_e164
from callcenter.services.priority import RULES

QUEUE_TIMERS = ("wrap_up_seconds", "service_level_seconds", "max_wait_seconds", "reservation_timeout_seconds",
                "sticky_agent_wait_seconds", "callback_owner_wait_seconds", "abandoned_callback_min_wait_seconds")
# Switches of a queue (checkboxes): taking calls, and booking a callback for a caller who hung up waiting.
QUEUE_FLAGS = ("active", "abandoned_callbacks")
# Field -> (smallest, largest) accepted: a minute of ringing or a day of waiting is an admin's typo.
LIMITS: dict[str, tuple[int, int]] = {
    "wrap_up_seconds": (0, 3600),
    "service_level_seconds": (1, 3600),
    "service_level_target": (1, 100),
    "max_wait_seconds": (10, 86400),
    "reservation_timeout_seconds": (5, 120),
    "sticky_agent_wait_seconds": (0, 600),
    "callback_owner_wait_seconds": (0, 86400),
    "abandoned_callback_min_wait_seconds": (0, 3600),
    "base_priority": (-100, 100),
    "priority_rule": (-100, 100),
    "skill_level": (1, 10),
}
CODE_PATTERN = agent_state.REASON_PATTERN  # lowercase codes, as the state log and call records store them
# The away reasons agents had before admins kept a list; used while the list is empty.
BUILT_IN_AWAY_REASONS = (("break", t("Break")), ("lunch", t("Lunch")), ("training", t("Training")),
                         ("meeting", t("Meeting")), ("admin", t("Admin work")))
_INTERVAL = re.compile(r"^\s*(\d{1,2}:\d{2})\s*-\s*(\d{1,2}:\d{2})\s*$")


def require_admin(actor: User) -> None:
    """Routing set-up is an admin's job; everyone else gets a clear 403."""
    if actor.role != Role.ADMIN.value or not actor.active:
        raise Forbidden(t("Only an admin may change routing set-up"))


def _record(session: Session, action: str, actor: User, entity: Any, before: dict[str, Any] | None,
            after: dict[str, Any] | None, ip_address: str | None) -> None:
    audit.record(session, action, actor_id=actor.id, entity=entity, ip_address=ip_address, before=before,
                 after=after)


def _text(values: dict[str, Any], name: str, *, limit: int, required: bool = False, label: Message | None = None
          ) -> str:
    value = str(values.get(name) or "").strip()
    if required and not value:
        raise ValidationFailed(t("%(field)s is required", field=label or name), field=name)
    if len(value) > limit:
        raise ValidationFailed(t("%(field)s is at most %(limit)s characters", field=label or name, limit=limit),
                               field=name)
    return value


def _whole(value: Any, field: str, limits: tuple[int, int]) -> int:
    """An integer within `limits`, from a form's text or a number."""
    try:
        number = int(str(value).strip())
    except (TypeError, ValueError):
        raise ValidationFailed(t("%(field)s must be a whole number", field=field), field=field) from None
    low, high = limits
    if not low <= number <= high:
        raise ValidationFailed(t("%(field)s must be from %(low)s to %(high)s", field=field, low=low, high=high),
                               field=field)
    return number


def _flag(value: Any) -> bool:
    return value in (True, 1) or str(value).lower() in ("1", "true", "on", "yes", "y")


def _get(session: Session, model: type, row_id: int, message: Message, field: str = "id") -> Any:
    """The row with this id, or NotFound with `message`."""
    row = session.get(model, row_id)
    if row is None:
        raise NotFound(message, field=field)
    return row


# --- Business hours as people type them ----------------------------------------------------------------------------


def hours_as_text(hours: dict[str, Any] | None) -> dict[str, str]:
    """{day: "08:00-12:00, 13:00-18:00"} for the form ("" for a closed day)."""
    hours = hours or {}
    return {day: ", ".join(f"{opens}-{closes}" for opens, closes in hours.get(day) or [])
            for day in business_hours.DAYS}


def hours_from_text(texts: dict[str, str]) -> dict[str, list[list[str]]]:
    """Parse {day: "08:00-12:00, 13:00-18:00"} into the stored form, checked by business_hours.parse_hours."""
    hours: dict[str, list[list[str]]] = {}
    for day in business_hours.DAYS:
        text = (texts.get(day) or "").strip()
        if not text:
            continue
        intervals = []
        for part in text.split(","):
            match = _INTERVAL.match(part)
            if not match:
                raise ValidationFailed(t("%(text)r is not an interval like 08:00-18:00", text=part.strip()),
                                       field=f"hours_{day}")
            intervals.append([match.group(1).zfill(5), match.group(2).zfill(5)])
        hours[day] = intervals
    business_hours.parse_hours(hours)
    return hours


# --- Queues --------------------------------------------------------------------------------------------------------


def list_queues(session: Session) -> list[Queue]:
    return list(session.scalars(select(Queue).options(selectinload(Queue.skills).selectinload(QueueSkill.skill))
                                .order_by(Queue.active.desc(), Queue.name)))


def get_queue(session: Session, queue_id: int) -> Queue:
    return _get(session, Queue, queue_id, t("Queue %(queue_id)s not found", queue_id=queue_id), "queue_id")


def queue_state(queue: Queue) -> dict[str, Any]:
    """What an audit entry keeps of a queue."""
    return {
        "name": queue.name, "description": queue.description, "script": queue.script, "time_zone": queue.time_zone,
        "business_hours": queue.business_hours, "priority_rules": queue.priority_rules,
        "base_priority": queue.base_priority, "service_level_target": queue.service_level_target,
        "recording_policy": queue.recording_policy,
        **{name: getattr(queue, name) for name in (*QUEUE_TIMERS, *QUEUE_FLAGS)},
        "skills": {s.skill.name: s.min_level for s in sorted(queue.skills, key=lambda s: s.skill_id)},
        "holidays": [h.day.isoformat() for h in sorted(queue.holidays, key=lambda h: h.day)],
    }


def blank_queue() -> Queue:
    """A queue with the model's defaults, not added to any session: what the "new queue" form starts from."""
    return Queue(name="", description="", script="", time_zone="UTC", business_hours=dict(DEFAULT_BUSINESS_HOURS),
                 priority_rules={rule: 0 for rule in RULES} | {"vip": 10, "open_urgent_ticket": 5,
                                                              "repeat_caller_24h": 2},
                 base_priority=0, wrap_up_seconds=30, service_level_seconds=20, service_level_target=80,
                 max_wait_seconds=600, reservation_timeout_seconds=15, sticky_agent_wait_seconds=20, active=True,
                 callback_owner_wait_seconds=300, abandoned_callbacks=False, abandoned_callback_min_wait_seconds=30,
                 recording_policy="off")


def _queue_values(session: Session, values: dict[str, Any], queue: Queue | None) -> dict[str, Any]:
    """Check everything a queue form sends; the first problem raises ValidationFailed naming its field."""
    checked: dict[str, Any] = {
        "name": _text(values, "name", limit=80, required=True, label=t("Name")),
        "description": _text(values, "description", limit=255),
        "script": str(values.get("script") or "").strip(),
    }
    clash = session.scalar(select(Queue).where(func.lower(Queue.name) == checked["name"].lower()))
    if clash is not None and clash is not queue:
        raise ValidationFailed(t("A queue named %(name)r already exists", name=clash.name), field="name")
    zone = str(values.get("time_zone") or "").strip()
    if not zone:
        raise ValidationFailed(t("%(field)s is required", field=t("Time zone")), field="time_zone")
    checked["time_zone"] = locales.check_time_zone(zone)
    hours = values.get("business_hours")
    checked["business_hours"] = hours_from_text(hours) if isinstance(hours, dict) and all(
        isinstance(v, str) for v in hours.values()) else hours
    business_hours.parse_hours(checked["business_hours"])
    for name in (*QUEUE_TIMERS, "service_level_target", "base_priority"):
        checked[name] = _whole(values.get(name), name, LIMITS[name])
    rules = values.get("priority_rules") or {}
    checked["priority_rules"] = {rule: _whole(rules.get(rule, 0), f"priority_{rule}", LIMITS["priority_rule"])
                                 for rule in RULES}
    for name in QUEUE_FLAGS:
        checked[name] = _flag(values.get(name))
    checked["recording_policy"] = recordings.validate_policy(str(values.get("recording_policy") or "off"))
    skills: dict[int, int] = {}
    for skill_id, level in (values.get("skills") or {}).items():
        skill = session.get(Skill, int(skill_id))
        if skill is None:
            raise ValidationFailed(t("Skill %(skill_id)s not found", skill_id=skill_id), field="skills")
        skills[skill.id] = _whole(level, f"skill_{skill.id}", LIMITS["skill_level"])
    checked["skills"] = skills
    return checked


def create_queue(session: Session, actor: User, values: dict[str, Any], *, ip_address: str | None = None) -> Queue:
    """A new queue, routable at once (the ACD reads its config when the first call joins it)."""
    require_admin(actor)
    checked = _queue_values(session, values, None)
    queue = Queue(name=checked["name"])
    _apply_queue(queue, checked)
    return _added(session, actor, queue, "queue.created", queue_state, ip_address)


def update_queue(session: Session, actor: User, queue_id: int, values: dict[str, Any], *,
                 ip_address: str | None = None) -> Queue:
    """Change a queue; a new name is carried into every IVR flow that routes to the old one (a new version each),
    so no caller is sent to a queue that no longer exists."""
    require_admin(actor)
    queue = get_queue(session, queue_id)
    before = queue_state(queue)
    checked = _queue_values(session, values, queue)
    old_name = queue.name
    _apply_queue(queue, checked)
    session.flush()
    if old_name != queue.name:
        _rename_in_flows(session, actor, old_name, queue.name, ip_address)
    after = queue_state(queue)
    if after != before:
        _record(session, "queue.updated", actor, queue, before, after, ip_address)
    session.commit()
    return queue


def _apply_queue(queue: Queue, checked: dict[str, Any]) -> None:
    for name, value in checked.items():
        if name != "skills":
            setattr(queue, name, value)
    wanted = dict(checked["skills"])
    queue.skills = [s for s in queue.skills if s.skill_id in wanted]
    for row in queue.skills:
        row.min_level = wanted.pop(row.skill_id)
    for skill_id, level in wanted.items():
        queue.skills.append(QueueSkill(skill_id=skill_id, min_level=level))


def flows_routing_to(session: Session, name: str) -> list[IvrFlow]:
    """The IVR flows that send callers to the queue named `name` (or take their hours from it)."""
    return [flow for flow in session.scalars(select(IvrFlow).order_by(IvrFlow.phone_number))
            if _renamed(flow.definition, name, name)[1]]


def _rename_in_flows(session: Session, actor: User, old: str, new: str, ip_address: str | None) -> None:
    for flow in session.scalars(select(IvrFlow)):
        definition, count = _renamed(flow.definition, old, new)
        if count:
            ivr_flows.save_flow(session, actor.id, definition, flow_id=flow.id, ip_address=ip_address)


def _renamed(value: Any, old: str, new: str) -> tuple[Any, int]:
    """A copy of a flow definition with every route to queue `old` (and hours_queue) pointing at `new`."""
    if isinstance(value, list):
        pairs = [_renamed(item, old, new) for item in value]
        return [p[0] for p in pairs], sum(p[1] for p in pairs)
    if isinstance(value, dict):
        result, count = {}, 0
        for key, item in value.items():
            if key in ("queue", "hours_queue") and item == old:
                result[key], count = new, count + 1
            else:
                result[key], more = _renamed(item, old, new)
                count += more
        return result, count
    return value, 0


def add_holiday(session: Session, actor: User, queue_id: int, day: Any, name: str = "", *,
                ip_address: str | None = None) -> Holiday:
    """Close the queue for a whole local day."""
    require_admin(actor)
    queue = get_queue(session, queue_id)
    try:
        when = day if isinstance(day, date) else date.fromisoformat(str(day).strip())
    except ValueError:
        raise ValidationFailed(t("%(day)r is not a day (use YYYY-MM-DD)", day=day), field="day") from None
    if any(h.day == when for h in queue.holidays):
        raise Conflict(t("%(day)s is already a holiday of %(queue)s", day=when.isoformat(), queue=queue.name),
                       field="day")
    before = queue_state(queue)
    holiday = Holiday(day=when, name=str(name or "").strip()[:100])
    queue.holidays.append(holiday)
    session.flush()
    _record(session, "queue.updated", actor, queue, before, queue_state(queue), ip_address)
    session.commit()
    return holiday


def remove_holiday(session: Session, actor: User, queue_id: int, holiday_id: int, *,
                   ip_address: str | None = None) -> None:
    require_admin(actor)
    queue = get_queue(session, queue_id)
    holiday = next((h for h in queue.holidays if h.id == holiday_id), None)
    if holiday is None:
        raise NotFound(t("Holiday %(holiday_id)s not found", holiday_id=holiday_id), field="holiday_id")
    before = queue_state(queue)
    queue.holidays.remove(holiday)
    session.flush()
    _record(session, "queue.updated", actor, queue, before, queue_state(queue), ip_address)
    session.commit()


# --- Skills --------------------------------------------------------------------------------------------------------


def list_skills(session: Session) -> list[tuple[Skill, int]]:
    """Every skill with how many people hold it, by name."""
    held = select(UserSkill.skill_id, func.count().label("holders")).group_by(UserSkill.skill_id).subquery()
    rows = session.execute(select(Skill, func.coalesce(held.c.holders, 0)).outerjoin(held, held.c.skill_id == Skill.id)
                           .order_by(Skill.name))
    return [(skill, int(count)) for skill, count in rows]


def get_skill(session: Session, skill_id: int) -> Skill:
    return _get(session, Skill, skill_id, t("Skill %(skill_id)s not found", skill_id=skill_id), "skill_id")


def _skill_state(skill: Skill) -> dict[str, Any]:
    return {"name": skill.name}


def _skill_name(session: Session, values: dict[str, Any], skill: Skill | None) -> str:
    name = _text(values, "name", limit=60, required=True, label=t("Name"))
    clash = session.scalar(select(Skill).where(func.lower(Skill.name) == name.lower()))
    if clash is not None and clash is not skill:
        raise ValidationFailed(t("A skill named %(name)r already exists", name=clash.name), field="name")
    return name


def create_skill(session: Session, actor: User, values: dict[str, Any], *, ip_address: str | None = None) -> Skill:
    require_admin(actor)
    return _added(session, actor, Skill(name=_skill_name(session, values, None)), "skill.created", _skill_state,
                  ip_address)


def rename_skill(session: Session, actor: User, skill_id: int, values: dict[str, Any], *,
                 ip_address: str | None = None) -> Skill:
    """Rename a skill; queues and agents keep it (they hold its id)."""
    require_admin(actor)
    skill = get_skill(session, skill_id)
    before = _skill_state(skill)
    skill.name = _skill_name(session, values, skill)
    return _edited(session, actor, skill, "skill.renamed", _skill_state, before, ip_address)


def _skills_managed_by(viewer: User | None) -> Any:
    """Whose skills `viewer` may see and change: an admin everyone's; a supervisor their own team's agents'."""
    if viewer is None or viewer.role == Role.ADMIN.value:
        return true()
    if viewer.role == Role.SUPERVISOR.value and viewer.team_id is not None:
        return and_(User.team_id == viewer.team_id, User.role == Role.AGENT.value)
    return false()


def require_skill_manager(actor: User, person: User | None = None) -> None:
    """Giving and taking skills: admins for anyone, a supervisor for the agents of their own team (403 else)."""
    if actor.active and actor.role == Role.ADMIN.value:
        return
    if (actor.active and actor.role == Role.SUPERVISOR.value and actor.team_id is not None
            and (person is None or (person.team_id == actor.team_id and person.role == Role.AGENT.value))):
        return
    raise Forbidden(t("A supervisor gives and takes the skills of their own team's agents only"))


def skill_holders(session: Session, skill_id: int, viewer: User | None = None) -> list[UserSkill]:
    """Who holds the skill, with their level, by name (of those `viewer` manages)."""
    return list(session.scalars(select(UserSkill).join(User).where(UserSkill.skill_id == skill_id,
                                                                   _skills_managed_by(viewer))
                                .options(selectinload(UserSkill.user)).order_by(User.full_name, User.id)))


def skill_candidates(session: Session, skill_id: int, viewer: User | None = None) -> list[User]:
    """Active people who could be given the skill (agents and supervisors who do not hold it yet; a supervisor's
    own team's agents when `viewer` is one)."""
    held = select(UserSkill.user_id).where(UserSkill.skill_id == skill_id)
    return list(session.scalars(select(User).where(User.active.is_(True), User.id.not_in(held),
                                                   User.role.in_((Role.AGENT.value, Role.SUPERVISOR.value)),
                                                   _skills_managed_by(viewer))
                                .order_by(User.full_name, User.id)))


def _agent_skills(user: User) -> dict[str, int]:
    return {s.skill.name: s.level for s in sorted(user.skills, key=lambda s: s.skill_id)}


def set_agent_skill(session: Session, actor: User, skill_id: int, user_id: Any, level: Any, *,
                    r: redis.Redis | None = None, ip_address: str | None = None) -> UserSkill:
    """Give a person the skill at `level` (1..10), or change their level; the ACD sees it at once when `r`.
    Admins for anyone; a supervisor for their own team's agents."""
    require_skill_manager(actor)
    skill = get_skill(session, skill_id)
    try:
        user = session.get(User, int(user_id))
    except (TypeError, ValueError):
        user = None
    if user is None:
        raise ValidationFailed(t("Choose a person"), field="user_id")
    require_skill_manager(actor, user)
    level = _whole(level, "level", LIMITS["skill_level"])
    before = _agent_skills(user)
    row = next((s for s in user.skills if s.skill_id == skill.id), None)
    if row is None:
        row = UserSkill(skill=skill, level=level)
        user.skills.append(row)
    row.level = level
    session.flush()
    _record(session, "user.skills_changed", actor, user, {"skills": before}, {"skills": _agent_skills(user)},
            ip_address)
    session.commit()
    _reach_routing(session, r, user.id)
    return row


def remove_agent_skill(session: Session, actor: User, skill_id: int, user_id: int, *,
                       r: redis.Redis | None = None, ip_address: str | None = None) -> None:
    require_skill_manager(actor)
    skill = get_skill(session, skill_id)
    user = session.get(User, user_id)
    if user is not None:
        require_skill_manager(actor, user)
    row = next((s for s in user.skills if s.skill_id == skill.id), None) if user is not None else None
    if user is None or row is None:
        raise NotFound(t("That person does not hold %(skill)s", skill=skill.name), field="user_id")
    before = _agent_skills(user)
    user.skills.remove(row)
    session.flush()
    _record(session, "user.skills_changed", actor, user, {"skills": before}, {"skills": _agent_skills(user)},
            ip_address)
    session.commit()
    _reach_routing(session, r, user.id)


def _reach_routing(session: Session, r: redis.Redis | None, user_id: int) -> None:
    """Re-cache the person's skills where the ACD reads them (and its per-skill index of free agents)."""
    if r is not None:
        agent_state.refresh_agent(session, r, user_id)


# --- Dispositions and away reasons ---------------------------------------------------------------------------------


def list_dispositions(session: Session) -> list[Disposition]:
    return list(session.scalars(select(Disposition).order_by(Disposition.active.desc(), Disposition.label)))


def _code(values: dict[str, Any]) -> str:
    code = str(values.get("code") or "").strip()
    if not CODE_PATTERN.match(code):
        raise ValidationFailed(t("A code is 1-60 lowercase letters, digits, '_', '-' or '.'"), field="code")
    return code


def _labelled_state(row: Disposition | AwayReason) -> dict[str, Any]:
    return {"code": row.code, "label": row.label, "active": row.active}




def _added(session: Session, actor: User, row: Any, action: str, state: Any, ip_address: str | None) -> Any:
    """Store a new row, audited with what it holds (no before), and commit."""
    session.add(row)
    session.flush()
    _record(session, action, actor, row, None, state(row), ip_address)
    session.commit()
    return row


def _edited(session: Session, actor: User, row: Any, action: str, state: Any, before: dict[str, Any],
            ip_address: str | None) -> Any:
    """Commit an edit of `row`, audited with `before` and after when it changed anything."""
    if state(row) != before:
        _record(session, action, actor, row, before, state(row), ip_address)
    session.commit()
    return row


def _add_coded(session: Session, actor: User, model: type, action: str, values: dict[str, Any],
               ip_address: str | None) -> Any:
    code = _code(values)
    label = _text(values, "label", limit=100, required=True, label=t("Label"))
    if session.scalar(select(model).where(model.code == code)) is not None:
        raise ValidationFailed(t("The code %(code)r is taken", code=code), field="code")
    return _added(session, actor, model(code=code, label=label, active=True), action, _labelled_state, ip_address)


def _edit_coded(session: Session, actor: User, row: Disposition | AwayReason, action: str, values: dict[str, Any],
                ip_address: str | None) -> Any:
    """Change the label or switch the row off; its code stays (call records and the state log refer to it)."""
    before = _labelled_state(row)
    row.label = _text(values, "label", limit=100, required=True, label=t("Label"))
    row.active = _flag(values.get("active"))
    return _edited(session, actor, row, action, _labelled_state, before, ip_address)


def create_disposition(session: Session, actor: User, values: dict[str, Any], *,
                       ip_address: str | None = None) -> Disposition:
    require_admin(actor)
    return _add_coded(session, actor, Disposition, "disposition.created", values, ip_address)


def update_disposition(session: Session, actor: User, disposition_id: int, values: dict[str, Any], *,
                       ip_address: str | None = None) -> Disposition:
    require_admin(actor)
    row = _get(session, Disposition, disposition_id, t("Disposition %(id)s not found", id=disposition_id))
    return _edit_coded(session, actor, row, "disposition.updated", values, ip_address)


def list_away_reasons(session: Session) -> list[AwayReason]:
    return list(session.scalars(select(AwayReason).order_by(AwayReason.active.desc(), AwayReason.id)))


def away_reasons_for_agents(session: Session) -> list[tuple[str, str | Message]]:
    """(code, label) of the reasons agents choose from: the admins' active list, or the built-in one (labels to
    translate) while admins have none."""
    rows = session.execute(select(AwayReason.code, AwayReason.label).where(AwayReason.active.is_(True))
                           .order_by(AwayReason.id)).all()
    if rows or session.scalar(select(func.count()).select_from(AwayReason)):
        return [(code, label) for code, label in rows]
    return list(BUILT_IN_AWAY_REASONS)


def create_away_reason(session: Session, actor: User, values: dict[str, Any], *,
                       ip_address: str | None = None) -> AwayReason:
    """Add a reason; the first one an admin adds starts from the built-in list, so none disappears unasked."""
    require_admin(actor)
    if not session.scalar(select(func.count()).select_from(AwayReason)):
        session.add_all(AwayReason(code=c, label=str(lbl), active=True) for c, lbl in BUILT_IN_AWAY_REASONS)
        session.flush()
    return _add_coded(session, actor, AwayReason, "away_reason.created", values, ip_address)


def update_away_reason(session: Session, actor: User, reason_id: int, values: dict[str, Any], *,
                       ip_address: str | None = None) -> AwayReason:
    require_admin(actor)
    row = _get(session, AwayReason, reason_id, t("Away reason %(id)s not found", id=reason_id))
    return _edit_coded(session, actor, row, "away_reason.updated", values, ip_address)


# --- Phone numbers and caller IDs ----------------------------------------------------------------------------------


def list_numbers(session: Session, configured: Iterable[str] = ()) -> list[dict[str, Any]]:
    """Every number we know (kept by admins, configured in settings, or answered by a flow) with the flow that
    answers it, by number."""
    configured = set(configured)
    kept = {row.number: row for row in session.scalars(select(PhoneNumber))}
    flows = {flow.phone_number: flow for flow in session.scalars(select(IvrFlow))}
    return [{"number": n, "row": kept.get(n), "flow": flows.get(n), "configured": n in configured}
            for n in sorted(set(kept) | set(flows) | {n for n in configured if n})]


def number_state(row: PhoneNumber) -> dict[str, Any]:
    return {"number": row.number, "label": row.label, "caller_id": row.caller_id, "active": row.active}


def create_number(session: Session, actor: User, values: dict[str, Any], *,
                  ip_address: str | None = None) -> PhoneNumber:
    require_admin(actor)
    number = to_e164(str(values.get("number") or ""), field="number")
    if session.scalar(select(PhoneNumber).where(PhoneNumber.number == number)) is not None:
        raise ValidationFailed(t("%(number)s is already listed", number=number), field="number")
    row = PhoneNumber(number=number, label=_text(values, "label", limit=100), caller_id=_flag(values.get("caller_id")),
                      active=True)
    return _added(session, actor, row, "phone_number.created", number_state, ip_address)


def update_number(session: Session, actor: User, number_id: int, values: dict[str, Any], *,
                  ip_address: str | None = None) -> PhoneNumber:
    require_admin(actor)
    row = _get(session, PhoneNumber, number_id, t("Phone number %(id)s not found", id=number_id))
    before = number_state(row)
    row.label = _text(values, "label", limit=100)
    row.caller_id = _flag(values.get("caller_id"))
    row.active = _flag(values.get("active"))
    return _edited(session, actor, row, "phone_number.updated", number_state, before, ip_address)


def caller_ids(session: Session, configured: Iterable[str]) -> list[str]:
    """The numbers agents may show on calls they place: the configured ones, then the active numbers admins
    marked as caller IDs (the first stays the default)."""
    kept = session.scalars(select(PhoneNumber.number).where(PhoneNumber.active.is_(True),
                                                            PhoneNumber.caller_id.is_(True))
                           .order_by(PhoneNumber.number))
    return list(dict.fromkeys([*(n for n in configured if n), *kept]))
