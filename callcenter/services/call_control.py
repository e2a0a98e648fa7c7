"""What an agent or a supervisor does to a live call, as conference participant operations.

Caller and agent are bridged in the interaction's conference (services.agent_legs), so:
    hold / resume          the customer's participant Hold=true/false (they hear hold music)
    mute                   the agent's participant Muted=true/false
    listen                 a supervisor's softphone joins muted
    whisper                the supervisor's participant Coaching=true, CallSidToCoach=the agent's leg
    barge                  the supervisor's participant unmuted, coaching off (everyone hears them)
    warm transfer          the customer on hold, a second agent's softphone joins to consult; complete moves the
                           customer and the second agent to a new conference (the customer's leg never drops),
                           cancel removes the second agent and resumes the customer
    cold transfer          the customer leaves the agent and waits in another queue (the agent goes to wrap-up)
    take over              a monitoring supervisor becomes a full participant and the agent's leg leaves
The telephony provider is passed in; nothing here knows whether it is Twilio or the emulator.
"""

from __future__ import annotations

import contextlib
import json
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import redis
from sqlalchemy import select
from sqlalchemy.orm import Session

from callcenter.models import Call, Contact, Queue, Role, User, utcnow
from callcenter.services import agent_state, audit, calls, dialing_gate, jobs, outbound_calls, routing, scope
from callcenter.services.errors import Conflict, Forbidden, NotFound, ValidationFailed
from callcenter.services.events import publish
from callcenter.services.interactions import agent_identity, interaction, set_interaction
from callcenter.services.messages import t
from callcenter.services.phones import to_e164
from callcenter.services.wrapup import caller_sid
from callcenter.telephony.base import Provider, TelephonyError

MONITOR_MODES = ("listen", "whisper", "barge")
CUSTOMER_LABEL = "customer"
CONSULT_LABEL = "consult"
TRANSFER_TTL_SECONDS = 3600


def monitor_key(call_sid: str) -> str:
    return f"cc:monitor:{call_sid}"


def transfer_key(call_sid: str) -> str:
    return f"cc:transfer:{call_sid}"


@contextmanager
def carrier_action(action: str) -> Iterator[None]:
    """Carrier refusals become a Conflict the agent can read, instead of a crash."""
    try:
        yield
    except TelephonyError as exc:
        raise Conflict(t('%(action)s failed: %(message)s', action=action, message=exc.message)) from exc


@dataclass(frozen=True)
class Live:
    """A live interaction and the conference it is bridged in."""

    entry_id: str
    data: dict[str, Any]
    conference_sid: str

    @property
    def customer(self) -> str:
        """The customer's participant: their CallSid, or the label of a callback's outbound leg."""
        return CUSTOMER_LABEL if self.data.get("callback_phone") else self.data["caller_sid"]

    @property
    def agent_sid(self) -> str:
        return self.data["agent_sid"]


def _bridged(r: redis.Redis, call_sid: str) -> dict[str, Any]:
    """What Redis knows of the interaction of `call_sid` (entry id or caller CallSid) while an agent is on it."""
    data = interaction(r, call_sid) or interaction(r, caller_sid(call_sid))
    if not data or not data.get("agent_sid"):
        raise Conflict(t('This call is not connected to an agent'), field="call_sid")
    return data


def live(r: redis.Redis, provider: Provider, call_sid: str) -> Live:
    """The interaction of `call_sid` (entry id or caller CallSid) while it is bridged; Conflict when it is not."""
    return _in_conference(provider, call_sid, _bridged(r, call_sid))


def _in_conference(provider: Provider, call_sid: str, data: dict[str, Any]) -> Live:
    with carrier_action("Finding the call's conference"):
        conference = provider.find_conference(data["conference_name"])
    if conference is None:
        raise Conflict(t('This call has ended'), field="call_sid")
    return Live(entry_id=call_sid, data=data, conference_sid=conference.sid)


def _own(r: redis.Redis, provider: Provider, agent_id: int, call_sid: str) -> Live:
    found = live(r, provider, call_sid)
    if found.data.get("agent_id") != agent_id:
        raise Forbidden(t('This is not your call'), field="call_sid")
    return found


def hold(session: Session, r: redis.Redis, provider: Provider, *, agent_id: int, call_sid: str, on: bool,
         hold_url: str | None = None) -> dict[str, Any]:
    """Put the customer on hold (they hear `hold_url`) or bring them back; logged for the hold time."""
    found = _own(r, provider, agent_id, call_sid)
    with carrier_action("Hold" if on else "Resume"):
        provider.hold_participant(found.conference_sid, found.customer, on, hold_url)
    call = calls.get_call(session, found.data["caller_sid"])
    if call is not None:
        calls.record_event(session, call, calls.HOLD_KIND if on else calls.UNHOLD_KIND, {"agent_id": agent_id})
        session.commit()
    return {"call_sid": call_sid, "on_hold": on}


def mute(r: redis.Redis, provider: Provider, *, agent_id: int, call_sid: str, on: bool) -> dict[str, Any]:
    """Mute the agent's leg in the conference (the softphone also mutes its microphone locally)."""
    found = _own(r, provider, agent_id, call_sid)
    with carrier_action("Mute" if on else "Unmute"):
        provider.mute_participant(found.conference_sid, found.agent_sid, on)
    return {"call_sid": call_sid, "muted": on}


# --- Supervisors ------------------------------------------------------------------------------------------------


def _require_supervisor(user: User) -> None:
    """The role check comes first: an agent learns nothing about a call (live or not) from a refusal."""
    if user.role not in (Role.SUPERVISOR.value, Role.ADMIN.value):
        raise Forbidden(t("Supervisors only"))


def _supervised_agent(session: Session, supervisor: User, agent_id: int) -> User:
    _require_supervisor(supervisor)
    agent = session.scalar(select(User).where(User.id == agent_id, scope.users(supervisor)))
    if agent is None:
        raise NotFound(t('Agent %(agent_id)s not found', agent_id=agent_id), field="agent_id")
    return agent


def monitor(session: Session, r: redis.Redis, provider: Provider, *, supervisor: User, call_sid: str, mode: str,
            caller_id: str) -> dict[str, Any]:
    """Listen to, whisper to the agent of, or barge into a live call; the first request rings the supervisor's
    softphone into the conference, later ones change their mode."""
    _require_supervisor(supervisor)
    if mode not in MONITOR_MODES:
        raise ValidationFailed(t('Mode is one of %(value)s', value=', '.join(MONITOR_MODES)), field="mode")
    found = _supervised_call(session, r, provider, supervisor, call_sid)
    key = monitor_key(found.data["caller_sid"])
    leg = r.hget(key, str(supervisor.id))
    leg = leg.decode() if isinstance(leg, bytes) else leg
    with carrier_action(f"{mode.title()}"):
        if leg is None:
            participant = provider.add_participant(
                found.conference_sid, from_=caller_id, to=f"client:{agent_identity(supervisor.id)}",
                label=f"supervisor-{supervisor.id}", muted=mode == "listen", coaching=mode == "whisper",
                call_sid_to_coach=found.agent_sid if mode == "whisper" else None, beep=False,
            )
            r.hset(key, str(supervisor.id), participant.call_sid)
            r.expire(key, TRANSFER_TTL_SECONDS)
            leg = participant.call_sid
        elif mode == "listen":
            provider.coach_participant(found.conference_sid, leg, None)
            provider.mute_participant(found.conference_sid, leg, True)
        elif mode == "whisper":
            provider.mute_participant(found.conference_sid, leg, False)
            provider.coach_participant(found.conference_sid, leg, found.agent_sid)
        else:
            provider.coach_participant(found.conference_sid, leg, None)
            provider.mute_participant(found.conference_sid, leg, False)
    audit.record(session, f"call.{mode}", actor_id=supervisor.id, call_sid=found.data["caller_sid"],
                 agent_id=found.data["agent_id"])
    session.commit()
    _tell_the_agent(found, supervisor, mode)
    return {"call_sid": call_sid, "mode": mode, "supervisor_call_sid": leg,
            "conference_name": found.data["conference_name"]}


def _supervised_call(session: Session, r: redis.Redis, provider: Provider, supervisor: User,
                     call_sid: str) -> Live:
    """A live call of an agent in the supervisor's scope. Role and team are checked on what Redis knows before
    the carrier is asked anything: a supervisor of another team gets the same answer as for an unknown agent."""
    data = _bridged(r, call_sid)
    _supervised_agent(session, supervisor, int(data["agent_id"]))
    return _in_conference(provider, call_sid, data)


def stop_monitoring(session: Session, r: redis.Redis, provider: Provider, *, supervisor: User,
                    call_sid: str) -> None:
    """The supervisor leaves the call (their leg is removed; the call goes on)."""
    _require_supervisor(supervisor)
    found = _supervised_call(session, r, provider, supervisor, call_sid)
    key = monitor_key(found.data["caller_sid"])
    leg = r.hget(key, str(supervisor.id))
    if leg is None:
        return
    r.hdel(key, str(supervisor.id))
    with carrier_action("Leaving the call"):
        provider.remove_participant(found.conference_sid, leg.decode() if isinstance(leg, bytes) else leg)
    _tell_the_agent(found, supervisor, None)


def take_over(session: Session, r: redis.Redis, provider: Provider, *, supervisor: User,
              call_sid: str) -> dict[str, Any]:
    """The supervisor who is monitoring a live call takes it: their leg becomes a full participant (unmuted, not
    coaching), the agent's leg leaves the conference and the agent goes to wrap-up. From then on the call is the
    supervisor's (hang-up, wrap-up, the call record). Role and team are checked before the carrier is asked.

    The supervisor takes over from listen, whisper or barge: their softphone is already in the conference, so the
    customer is never left alone while a new leg rings.
    """
    _require_supervisor(supervisor)
    data = _bridged(r, call_sid)
    agent = _supervised_agent(session, supervisor, int(data["agent_id"]))
    if agent.id == supervisor.id:
        raise Conflict(t("This call is already yours"), field="call_sid")
    customer_sid = data["caller_sid"]
    leg = r.hget(monitor_key(customer_sid), str(supervisor.id))
    leg = leg.decode() if isinstance(leg, bytes) else leg
    if leg is None:
        raise Conflict(t("Listen to the call first: you take it over from there"), field="call_sid")
    presence = agent_state.get_presence(r, supervisor.id)
    if presence.state in (agent_state.RESERVED, agent_state.ON_CALL) or presence.current_call:
        raise Conflict(t("Finish the current call first"), field="state")
    # The ACD takes a call over from away or available: a supervisor not logged in to it is, as away.
    if presence.state == agent_state.OFFLINE:
        agent_state.login(session, r, supervisor.id, state=agent_state.AWAY, reason="take_over")
    elif presence.state not in (agent_state.AWAY, agent_state.AVAILABLE):
        raise Conflict(t("Finish the current call first"), field="state")
    found = _in_conference(provider, call_sid, data)
    with carrier_action("Taking over the call"):
        provider.coach_participant(found.conference_sid, leg, None)
        provider.mute_participant(found.conference_sid, leg, False)
    # The call moves to the supervisor (on call) and the agent to wrap-up, as a completed transfer does.
    routing.transfer_call(session, r, call_sid, agent.id, supervisor.id)
    # Before the agent's leg leaves: its end is then not taken for a dropped softphone to ring back.
    set_interaction(r, call_sid, agent_sid=leg, agent_id=supervisor.id)
    r.hdel(monitor_key(customer_sid), str(supervisor.id))
    with carrier_action("Taking over the call"):
        provider.remove_participant(found.conference_sid, found.agent_sid)
    call = calls.get_call(session, customer_sid)
    if call is not None:
        calls.record_event(session, call, "taken_over", {"from_agent_id": agent.id, "to_agent_id": supervisor.id,
                                                         "agent_id": supervisor.id})
        call.agent_id = supervisor.id
    audit.record(session, "call.take_over", actor_id=supervisor.id, call_sid=customer_sid, agent_id=agent.id)
    session.commit()
    after = agent_state.get_presence(r, agent.id)
    publish("agent.call", agent_id=agent.id, call_sid=call_sid, status="ended", agent_state=after.state,
            wrap_up_until=after.wrap_up_until, taken_over_by=supervisor.full_name)
    publish("agent.call", agent_id=supervisor.id, call_sid=call_sid, status="connected",
            conference_name=data["conference_name"], caller_sid=customer_sid, agent_sid=leg, taken_over=True)
    return {"call_sid": call_sid, "agent_id": agent.id, "supervisor_call_sid": leg,
            "conference_name": data["conference_name"]}


def _tell_the_agent(found: Live, supervisor: User, mode: str | None) -> None:
    """The agent's console shows who is listening, whispering or in the call (mode None: they left)."""
    publish("agent.call", agent_id=int(found.data["agent_id"]), call_sid=found.entry_id, status="coached",
            mode=mode, supervisor=supervisor.full_name)


def force_state(session: Session, r: redis.Redis, *, supervisor: User, agent_id: int, state: str,
                reason: str | None = None) -> agent_state.AgentPresence:
    """A supervisor sets an agent available, away (with a reason) or offline; never during a call."""
    agent = _supervised_agent(session, supervisor, agent_id)
    current = agent_state.get_presence(r, agent.id)
    if current.state == agent_state.OFFLINE and state != agent_state.OFFLINE:
        presence = agent_state.login(session, r, agent.id, state=state, reason=reason or None)
    else:
        presence = agent_state.change_state(session, r, agent.id, state, reason=reason or None)
    audit.record(session, "agent.state_forced", actor_id=supervisor.id, entity=agent, state=state, reason=reason)
    session.commit()
    if presence.offerable:
        routing.dispatch(session, r)
    return presence


# --- Transfers --------------------------------------------------------------------------------------------------


def _available_agent(session: Session, r: redis.Redis, agent_id: int, exclude: int) -> User:
    target = session.get(User, agent_id)
    if target is None or not target.active:
        raise NotFound(t('Agent %(agent_id)s not found', agent_id=agent_id), field="target_agent_id")
    if target.id == exclude:
        raise ValidationFailed(t('Choose another agent'), field="target_agent_id")
    if not agent_state.get_presence(r, target.id).offerable:
        raise Conflict(t('%(full_name)s is not available', full_name=target.full_name), field="target_agent_id")
    return target


def transfer_state(r: redis.Redis, call_sid: str) -> dict[str, Any] | None:
    raw = r.get(transfer_key(caller_sid(call_sid)))
    return json.loads(raw) if raw else None


def consult(session: Session, r: redis.Redis, provider: Provider, *, agent_id: int, call_sid: str,
            target_agent_id: int, caller_id: str, hold_url: str | None = None,
            status_callback: str | None = None) -> dict[str, Any]:
    """Warm transfer, step 1: the customer waits on hold while the target agent's softphone joins to consult.

    The target is taken out of the ACD (away, reason "consult") so no queue call is offered to them meanwhile.
    """
    found = _own(r, provider, agent_id, call_sid)
    if transfer_state(r, call_sid):
        raise Conflict(t('A transfer is already in progress'), field="call_sid")
    target = _available_agent(session, r, target_agent_id, agent_id)
    agent_state.change_state(session, r, target.id, agent_state.AWAY, reason="consult")
    with carrier_action("Calling the other agent"):
        provider.hold_participant(found.conference_sid, found.customer, True, hold_url)
        try:
            participant = provider.add_participant(
                found.conference_sid, from_=caller_id, to=f"client:{agent_identity(target.id)}",
                label=CONSULT_LABEL, end_conference_on_exit=False, timeout=30,
                status_callback=status_callback, status_callback_events=("answered", "completed") if
                status_callback else (),
            )
        except TelephonyError:
            provider.hold_participant(found.conference_sid, found.customer, False)
            agent_state.change_state(session, r, target.id, agent_state.AVAILABLE)
            raise
    state = {"entry_id": call_sid, "from_agent_id": agent_id, "to_agent_id": target.id,
             "consult_sid": participant.call_sid, "started_at": time.time()}
    r.set(transfer_key(found.data["caller_sid"]), json.dumps(state), ex=TRANSFER_TTL_SECONDS)
    caller = session.get(User, agent_id)
    publish("agent.call", agent_id=target.id, call_sid=call_sid, status="consult",
            from_agent=caller.full_name if caller else None, consult_sid=participant.call_sid)
    return state


def cancel_transfer(session: Session, r: redis.Redis, provider: Provider, *, agent_id: int,
                    call_sid: str) -> dict[str, Any]:
    """Warm transfer abandoned: the consulted agent leaves and becomes available, the customer is back."""
    found = _own(r, provider, agent_id, call_sid)
    state = transfer_state(r, call_sid)
    if state is None:
        raise Conflict(t('No transfer in progress'), field="call_sid")
    r.delete(transfer_key(found.data["caller_sid"]))
    with carrier_action("Cancelling the transfer"):
        with contextlib.suppress(TelephonyError):  # they hung up already
            provider.remove_participant(found.conference_sid, state["consult_sid"])
        provider.hold_participant(found.conference_sid, found.customer, False)
    with contextlib.suppress(agent_state.IllegalTransition):  # they chose another state meanwhile
        agent_state.change_state(session, r, state["to_agent_id"], agent_state.AVAILABLE)
    publish("agent.call", agent_id=state["to_agent_id"], call_sid=call_sid, status="consult_cancelled")
    routing.dispatch(session, r)
    return {"call_sid": call_sid, "transfer": "cancelled"}


def complete_transfer(session: Session, r: redis.Redis, provider: Provider, *, agent_id: int, call_sid: str,
                      join_twiml: Any) -> dict[str, Any]:
    """Warm transfer, step 2: the consulted agent and the customer continue in a new conference; the first
    agent's conference ends (their leg drops) and they go to wrap-up. The customer's leg is never hung up.

    `join_twiml(conference_name, end_on_exit)` returns the TwiML (a string) that puts a leg in a conference.
    """
    found = _own(r, provider, agent_id, call_sid)
    state = transfer_state(r, call_sid)
    if state is None:
        raise Conflict(t('No transfer in progress'), field="call_sid")
    customer_sid = found.data["caller_sid"]
    if found.data.get("callback_phone"):
        raise Conflict(t("A callback's customer leg cannot be transferred yet"), field="call_sid")
    new_name = f"interaction-{customer_sid}-t{uuid.uuid4().hex[:8]}"
    with carrier_action("Completing the transfer"):
        # The consulted agent moves first (the old conference keeps running: they do not end it), then the
        # customer: their leaving ends the old conference, which drops the first agent's leg.
        provider.redirect_call(state["consult_sid"], twiml=join_twiml(new_name, True))
        provider.redirect_call(customer_sid, twiml=join_twiml(new_name, True))
    r.delete(transfer_key(customer_sid))
    # The call now belongs to the consulted agent (on call, wrap-up when it ends); the first one wraps up.
    routing.transfer_call(session, r, call_sid, agent_id, int(state["to_agent_id"]))
    presence = agent_state.get_presence(r, agent_id)
    publish("agent.call", agent_id=agent_id, call_sid=call_sid, status="ended", agent_state=presence.state,
            wrap_up_until=presence.wrap_up_until)
    set_interaction(r, call_sid, conference_name=new_name, agent_sid=state["consult_sid"],
                    agent_id=state["to_agent_id"])
    call = calls.get_call(session, customer_sid)
    if call is not None:
        calls.record_event(session, call, "transferred", {"from_agent_id": agent_id,
                                                          "to_agent_id": state["to_agent_id"],
                                                          "conference_name": new_name})
        call.agent_id = state["to_agent_id"]
        session.commit()
    publish("agent.call", agent_id=state["to_agent_id"], call_sid=call_sid, status="connected",
            conference_name=new_name, caller_sid=customer_sid, agent_sid=state["consult_sid"], transferred=True)
    return {"call_sid": call_sid, "transfer": "completed", "to_agent_id": state["to_agent_id"],
            "conference_name": new_name}


def cold_transfer(session: Session, r: redis.Redis, provider: Provider, *, agent_id: int, call_sid: str,
                  queue_id: int, wait_url: str) -> dict[str, Any]:
    """Send the customer to another queue: they wait there (wait loop at `wait_url`), the agent goes to wrap-up."""
    found = _own(r, provider, agent_id, call_sid)
    if found.data.get("callback_phone"):
        raise Conflict(t("A callback's customer leg cannot be transferred to a queue"), field="call_sid")
    queue = session.get(Queue, queue_id)
    if queue is None or not queue.active:
        raise NotFound(t('Queue %(queue_id)s not found', queue_id=queue_id), field="queue_id")
    customer_sid = found.data["caller_sid"]
    call = calls.get_call(session, customer_sid)
    if call is None:
        raise Conflict(t('This call has no record'), field="call_sid")
    routing.finish_call(session, r, call_sid)  # the agent's part is over: wrap-up
    routing.enqueue_call(session, r, call_sid=customer_sid, queue_id=queue.id, from_number=call.from_number,
                         language=call.language,
                         payload={"call_sid": customer_sid, "ivr_path": calls.ivr_path(session, call),
                                  "queue_name": queue.name, "transferred_by": agent_id})
    call.queue_id = queue.id
    calls.record_event(session, call, "transferred", {"from_agent_id": agent_id, "to_queue_id": queue.id})
    session.commit()
    with carrier_action("Transferring to the queue"):
        provider.redirect_call(customer_sid, url=wait_url)
    return {"call_sid": call_sid, "transfer": "queued", "queue_id": queue.id}


# --- Click to call ----------------------------------------------------------------------------------------------


OUTBOUND_CONFERENCE_PREFIX = "outbound-"
END_ABANDONED_CUSTOMER_JOB = "workers.calls.end_abandoned_customer"


def outbound_conference_ended(session: Session, conference_name: str) -> None:
    """A click-to-call's conference ended: when the agent's softphone left it before the customer answered (a
    hang-up or a reload while ringing), the customer's leg is still ringing, and would be answered into a new,
    empty conference. A job (after commit) ends it; nothing for other conferences."""
    if conference_name.startswith(OUTBOUND_CONFERENCE_PREFIX):
        jobs.defer(session, END_ABANDONED_CUSTOMER_JOB, conference_name, key=f"end-abandoned-{conference_name}")


def end_abandoned_customer(session: Session, provider: Provider, conference_name: str) -> str | None:
    """End the customer's leg of an ended click-to-call conference if the carrier still has it live. Returns the
    leg ended, None when there was nothing to end (idempotent: a re-run finds it ended)."""
    call = session.scalar(select(Call).where(Call.conference_name == conference_name,
                                             Call.direction == "outbound-api"))
    if call is None:
        return None
    with carrier_action("Hanging up"):
        if provider.get_call(call.call_sid).status in calls.TERMINAL_STATUSES:
            return None
        provider.end_call(call.call_sid)
    return call.call_sid


def click_to_call(session: Session, r: redis.Redis, provider: Provider, *, agent: User, to: str, caller_id: str,
                  allowed_caller_ids: list[str], contact_id: int | None, join_twiml: Any,
                  status_callback: str | None, region: str = "US", now: datetime | None = None,
                  rules: dialing_gate.DialRules | None = None) -> dict[str, Any]:
    """Call a customer from the console: the agent's softphone and the customer meet in a new conference.

    The dialing gate decides first (DialRefused, a 409 with the reason, stored). The agent is set away (reason
    "outbound") while the call is placed, so the ACD offers them no queue call meanwhile, then is on the call
    (services.outbound_calls) until it ends, and wraps up.
    """
    if caller_id not in allowed_caller_ids:
        raise ValidationFailed(t("Choose one of the company's numbers as caller ID"), field="caller_id")
    number = to_e164(to, region, field="to")
    if contact_id is not None:
        contact = session.scalar(select(Contact).where(Contact.id == contact_id, scope.contacts(agent)))
        if contact is None:
            raise NotFound(t('Contact %(contact_id)s not found', contact_id=contact_id), field="contact_id")
    presence = agent_state.get_presence(r, agent.id)
    if presence.state in (agent_state.RESERVED, agent_state.ON_CALL) or presence.current_call:
        raise Conflict(t('Finish the current call first'), field="state")
    decision = dialing_gate.require(session, number, actor=agent, now=now or utcnow(), path="click_to_call",
                                    rules=rules)
    if presence.state != agent_state.AWAY or presence.reason != "outbound":
        if presence.state == agent_state.OFFLINE:
            agent_state.login(session, r, agent.id, state=agent_state.AWAY, reason="outbound")
        else:
            agent_state.change_state(session, r, agent.id, agent_state.AWAY, reason="outbound")
    name = f"{OUTBOUND_CONFERENCE_PREFIX}{uuid.uuid4().hex}"
    with carrier_action("Calling"):
        agent_leg = provider.place_call(f"client:{agent_identity(agent.id)}", caller_id,
                                        twiml=join_twiml(name, True), timeout=30)
        customer = provider.add_participant(name, from_=caller_id, to=number, label=CUSTOMER_LABEL,
                                            end_conference_on_exit=True, status_callback=status_callback,
                                            status_callback_events=("initiated", "ringing", "answered",
                                                                    "completed") if status_callback else ())
    call = calls.open_call(session, call_sid=customer.call_sid, direction="outbound-api", from_number=caller_id,
                           to_number=number, occurred_at=None, status="queued")
    call.agent_id, call.contact_id, call.conference_name = agent.id, contact_id, name
    dialing_gate.attach_call(session, decision.attempt_id, customer.call_sid)
    session.commit()
    # On the call until it ends (then wrap-up). A customer leg that failed before this line has had its status
    # callback already, which found the agent not on it yet: end it here.
    outbound_calls.agent_on_call(session, r, agent.id, customer.call_sid)
    if calls.current_values(session, call).get("status") in calls.TERMINAL_STATUSES:
        outbound_calls.call_ended(session, r, customer.call_sid)
    session.commit()
    return {"call_sid": customer.call_sid, "agent_call_sid": agent_leg.sid, "conference_name": name, "to": number}
