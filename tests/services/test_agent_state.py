"""The agent state machine: legal and illegal transitions, the durable log, wrap-up timers, lost sockets."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from callcenter.models import AgentStateChange, Queue, UserSkill
from callcenter.services import acd, agent_state, routing
from callcenter.services.agent_state import IllegalTransition
from callcenter.services.errors import Conflict, NotFound, ValidationFailed

T0 = 1_800_000_000.0


@pytest.fixture
def queue(session) -> Queue:
    queue = Queue(name="Support", wrap_up_seconds=30, reservation_timeout_seconds=15, sticky_agent_wait_seconds=0)
    session.add(queue)
    session.commit()
    return queue


@pytest.fixture
def agent(factory) -> int:
    return factory.user(skills={"english": 5}).id


def history(session, agent_id: int) -> list[tuple[str, str, str | None, datetime, str | None]]:
    rows = session.scalars(
        select(AgentStateChange).where(AgentStateChange.agent_id == agent_id).order_by(AgentStateChange.id)
    )
    return [(r.from_state, r.to_state, r.reason, r.occurred_at, r.call_sid) for r in rows]


def at(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)


def put_on_call(session, r, queue: Queue, agent_id: int, sid: str, now: float) -> None:
    routing.enqueue_call(session, r, call_sid=sid, queue_id=queue.id, from_number="+14155550100", now=now)
    routing.accept_offer(session, r, agent_id, sid, now + 1)


def test_login_caches_skills_and_logs_the_transition(session, factory, acd_redis, agent, events):
    presence = agent_state.login(session, acd_redis, agent, now=T0)

    english = session.scalar(select(UserSkill.skill_id))
    assert (presence.state, presence.since, presence.idle_since, presence.offerable) == ("available", T0, T0, True)
    assert presence.skills == {english: 5}
    assert history(session, agent) == [("offline", "available", "login", at(T0), None)]
    assert events.named("agent.state_changed") == [{
        "agent_id": agent, "state": "available", "from_state": "offline", "reason": "login",
        "since": at(T0).isoformat(), "call_sid": None,
    }]
    # Logging in again (another tab) keeps the state and logs nothing.
    agent_state.login(session, acd_redis, agent, now=T0 + 5)
    assert len(history(session, agent)) == 1
    with pytest.raises(NotFound):
        agent_state.login(session, acd_redis, 999_999, now=T0)


def test_login_refuses_deactivated_users_and_can_start_away(session, factory, acd_redis):
    inactive = factory.user()
    inactive.active = False
    session.commit()
    with pytest.raises(Conflict):
        agent_state.login(session, acd_redis, inactive.id, now=T0)

    other = factory.user().id
    with pytest.raises(ValidationFailed):
        agent_state.login(session, acd_redis, other, now=T0, state="away")
    presence = agent_state.login(session, acd_redis, other, now=T0, state="away", reason="training")
    assert (presence.state, presence.reason, presence.offerable) == ("away", "training", False)


def test_a_full_call_cycle_is_timestamped_in_the_database(session, acd_redis, queue, agent):
    r = acd_redis
    agent_state.login(session, r, agent, now=T0)
    put_on_call(session, r, queue, agent, "CA1", T0 + 10)
    routing.finish_call(session, r, "CA1", T0 + 100)
    assert agent_state.get_presence(r, agent).wrap_up_until == T0 + 130
    assert agent_state.end_expired_wrapups(session, r, T0 + 129) == []
    assert agent_state.end_expired_wrapups(session, r, T0 + 130) == [agent]

    assert history(session, agent) == [
        ("offline", "available", "login", at(T0), None),
        ("available", "reserved", "offered", at(T0 + 10), "CA1"),
        ("reserved", "on_call", "accepted", at(T0 + 11), "CA1"),
        ("on_call", "wrap_up", "call_ended", at(T0 + 100), "CA1"),
        ("wrap_up", "available", "wrap_up_timer", at(T0 + 130), None),
    ]
    presence = agent_state.get_presence(r, agent)
    assert (presence.state, presence.idle_since, presence.current_call) == ("available", T0 + 130, None)


def test_agent_may_end_wrap_up_early_or_go_away_from_it(session, acd_redis, queue, agent):
    r = acd_redis
    agent_state.login(session, r, agent, now=T0)
    put_on_call(session, r, queue, agent, "CA1", T0)
    routing.finish_call(session, r, "CA1", T0 + 50)
    assert agent_state.finish_wrap_up(session, r, agent, T0 + 55).state == "available"
    assert agent_state.end_expired_wrapups(session, r, T0 + 200) == []  # the timer is gone

    put_on_call(session, r, queue, agent, "CA2", T0 + 300)
    routing.finish_call(session, r, "CA2", T0 + 350)
    assert agent_state.change_state(session, r, agent, "away", "coaching", T0 + 351).reason == "coaching"
    assert agent_state.end_expired_wrapups(session, r, T0 + 500) == []
    assert agent_state.get_presence(r, agent).state == "away"
    with pytest.raises(IllegalTransition):
        agent_state.finish_wrap_up(session, r, agent, T0 + 501)


REQUESTABLE_TARGETS = ("available", "away", "offline")


def drive_to(session, r, queue: Queue, agent_id: int, state: str) -> None:
    """Put an agent in `state` through the public API."""
    if state == "offline":
        return
    agent_state.login(session, r, agent_id, now=T0)
    if state == "away":
        agent_state.change_state(session, r, agent_id, "away", "break", T0 + 1)
    elif state in ("reserved", "on_call", "wrap_up"):
        routing.enqueue_call(session, r, call_sid="CAx", queue_id=queue.id, from_number="+14155550100", now=T0 + 1)
        if state != "reserved":
            routing.accept_offer(session, r, agent_id, "CAx", T0 + 2)
        if state == "wrap_up":
            routing.finish_call(session, r, "CAx", T0 + 3)
    assert agent_state.get_presence(r, agent_id).state == state


@pytest.mark.parametrize("from_state", agent_state.STATES)
def test_requested_transitions_follow_the_table(session, factory, acd_redis, queue, from_state):
    r = acd_redis
    for to_state in REQUESTABLE_TARGETS:
        agent_id = factory.user().id
        drive_to(session, r, queue, agent_id, from_state)
        before = len(history(session, agent_id))
        reason = "lunch" if to_state == "away" else None
        legal = to_state in agent_state.LEGAL[from_state] and from_state in agent_state.REQUESTABLE[to_state]
        if from_state == to_state and to_state != "away":
            assert agent_state.change_state(session, r, agent_id, to_state, reason, T0 + 10).state == to_state
            assert len(history(session, agent_id)) == before  # a no-op
        elif legal:
            assert agent_state.change_state(session, r, agent_id, to_state, reason, T0 + 10).state == to_state
            assert history(session, agent_id)[-1][:2] == (from_state, to_state)
        else:
            with pytest.raises(IllegalTransition) as refused:
                agent_state.change_state(session, r, agent_id, to_state, reason, T0 + 10)
            assert (refused.value.from_state, refused.value.to_state) == (from_state, to_state)
            assert agent_state.get_presence(r, agent_id).state == from_state
            assert len(history(session, agent_id)) == before
        if r.hget(acd.call_key("CAx"), "status"):
            routing.finish_call(session, r, "CAx", T0 + 20)
        agent_state.logout(session, r, agent_id, T0 + 30)  # out of the way of the next agent's call


def test_logout_during_a_call_is_refused(session, acd_redis, queue, agent):
    r = acd_redis
    agent_state.login(session, r, agent, now=T0)
    put_on_call(session, r, queue, agent, "CA1", T0)
    with pytest.raises(IllegalTransition, match="finish the call"):
        agent_state.logout(session, r, agent, T0 + 5)
    assert agent_state.get_presence(r, agent).current_call == "CA1"
    with pytest.raises(ValidationFailed):
        agent_state.change_state(session, r, agent, "on_call", None, T0 + 5)


def test_away_needs_a_well_formed_reason_code(session, acd_redis, agent):
    agent_state.login(session, acd_redis, agent, now=T0)
    with pytest.raises(ValidationFailed):
        agent_state.change_state(session, acd_redis, agent, "away", None, T0 + 1)
    with pytest.raises(ValidationFailed):
        agent_state.change_state(session, acd_redis, agent, "away", "Lunch Break!", T0 + 1)
    agent_state.change_state(session, acd_redis, agent, "away", "lunch", T0 + 1)
    agent_state.change_state(session, acd_redis, agent, "away", "meeting", T0 + 2)
    assert [h[2] for h in history(session, agent)] == ["login", "lunch", "meeting"]


def test_lost_socket_goes_offline_after_the_grace_period(session, acd_redis, agent, events):
    r = acd_redis
    agent_state.login(session, r, agent, now=T0)
    presence = agent_state.disconnected(session, r, agent, T0 + 10)
    assert (presence.state, presence.offerable) == ("available", False)
    assert events.named("agent.reachability_changed")[-1]["disconnected"] is True

    assert agent_state.expire_disconnected(session, r, T0 + 39, grace_seconds=30) == []
    outcome = agent_state.expire_disconnected(session, r, T0 + 40, grace_seconds=30)

    assert [(o.agent_id, o.state, o.previous) for o in outcome] == [(agent, "offline", "available")]
    assert history(session, agent)[-1][:3] == ("available", "offline", "disconnected")
    assert agent_state.get_presence(r, agent).disconnected_at is None


def test_reconnecting_within_the_grace_period_keeps_the_state(session, acd_redis, agent):
    r = acd_redis
    agent_state.login(session, r, agent, now=T0)
    agent_state.disconnected(session, r, agent, T0 + 10)
    assert agent_state.reconnected(session, r, agent, T0 + 20).offerable
    assert agent_state.expire_disconnected(session, r, T0 + 100, grace_seconds=30) == []
    assert agent_state.get_presence(r, agent).state == "available"


def test_lost_socket_during_a_call_keeps_the_call(session, acd_redis, queue, agent):
    r = acd_redis
    agent_state.login(session, r, agent, now=T0)
    put_on_call(session, r, queue, agent, "CA1", T0)
    agent_state.disconnected(session, r, agent, T0 + 10)

    outcome = agent_state.expire_disconnected(session, r, T0 + 100, grace_seconds=30)

    assert [(o.state, o.previous) for o in outcome] == [("on_call", "on_call")]
    presence = agent_state.get_presence(r, agent)
    assert (presence.state, presence.current_call) == ("on_call", "CA1")
    assert acd.get_entry(r, "CA1").status == "connected"

    # Once the call ends (still no socket), the agent goes offline at the next sweep, after-call work or not.
    routing.finish_call(session, r, "CA1", T0 + 200)
    agent_state.expire_disconnected(session, r, T0 + 201, grace_seconds=30)
    assert [h[:3] for h in history(session, agent)[-2:]] == [
        ("on_call", "wrap_up", "call_ended"), ("wrap_up", "offline", "disconnected")]


def test_lost_socket_while_being_offered_a_call_reoffers_it(session, factory, acd_redis, queue, agent):
    r = acd_redis
    agent_state.login(session, r, agent, now=T0 - 100)
    colleague = factory.user().id
    agent_state.login(session, r, colleague, now=T0 - 50)
    agent_state.disconnected(session, r, colleague, T0 - 1)  # the colleague is not offered anything meanwhile
    routing.enqueue_call(session, r, call_sid="CA1", queue_id=queue.id, from_number="+14155550100", now=T0)
    agent_state.disconnected(session, r, agent, T0 + 1)
    agent_state.reconnected(session, r, colleague, T0 + 2)

    result = routing.tick(session, r, T0 + 11, disconnect_grace_seconds=10)  # before the offer times out

    assert [(o.agent_id, o.state, o.released_call_sid) for o in result.disconnected] == [
        (agent, "offline", "CA1")]
    assert [(o.call_sid, o.agent_id) for o in result.offers] == [("CA1", colleague)]
    assert history(session, agent)[-1][:3] == ("reserved", "offline", "disconnected")


def test_unreachable_keeps_the_state_but_blocks_offers(session, acd_redis, agent, events):
    r = acd_redis
    agent_state.login(session, r, agent, now=T0)
    presence = agent_state.set_unreachable(r, agent, True, T0 + 1)
    assert (presence.state, presence.unreachable, presence.offerable) == ("available", True, False)
    assert acd.available_agents(r) == []
    assert events.named("agent.reachability_changed")[-1]["unreachable"] is True
    assert agent_state.set_unreachable(r, agent, False, T0 + 2).offerable
    assert acd.available_agents(r) == [agent]


def test_the_log_survives_a_database_failure(session, acd_redis, agent, monkeypatch):
    r = acd_redis
    failing = {"on": True}
    original_commit = session.commit

    def commit() -> None:
        if failing["on"]:
            raise RuntimeError("database down")
        original_commit()

    monkeypatch.setattr(session, "commit", commit)
    with pytest.raises(RuntimeError):
        agent_state.login(session, r, agent, now=T0)
    assert agent_state.get_presence(r, agent).state == "available"  # live state applied
    failing["on"] = False
    assert [row.to_state for row in agent_state.flush_log(session, r)] == ["available"]
    assert history(session, agent) == [("offline", "available", "login", at(T0), None)]
