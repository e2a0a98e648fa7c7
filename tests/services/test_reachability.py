"""Heartbeat answers: a batch of them is written at once, clears only what it should, and adds nobody."""

from __future__ import annotations

from callcenter.services import agent_state, reachability

T0 = 1_800_000_000.0


def test_answers_written_together_refresh_the_connected_and_clear_only_their_flags(session, acd_redis, factory,
                                                                                    events):
    r = acd_redis
    alice, bob, carol, dave = (factory.user(username=name).id for name in ("alice", "bob", "carol", "dave"))
    for agent in (alice, bob, carol):
        reachability.socket_connected(session, r, agent, f"sid-{agent}", T0)
        agent_state.login(session, r, agent, now=T0)
    agent_state.set_unreachable(r, bob, True, T0 + 16)
    agent_state.set_unreachable(r, carol, True, T0 + 16)
    pushed_before = len(events.named("agent.reachability_changed"))

    # Alice and Bob answer; so does Dave, whose socket is gone; Carol stays silent.
    reachability.heartbeats_answered(r, [alice, bob, dave, alice], T0 + 20)

    assert r.zscore(reachability.CONNECTED, str(alice)) == T0 + 20
    assert r.zscore(reachability.CONNECTED, str(bob)) == T0 + 20
    assert r.zscore(reachability.CONNECTED, str(carol)) == T0
    assert r.zscore(reachability.CONNECTED, str(dave)) is None  # a late answer does not bring a socket back
    assert [agent_state.get_presence(r, a).unreachable for a in (alice, bob, carol)] == [False, False, True]
    cleared = events.named("agent.reachability_changed")[pushed_before:]
    assert [(e["agent_id"], e["unreachable"]) for e in cleared] == [(bob, False)]
    reachability.heartbeats_answered(r, [], T0 + 21)  # nothing gathered: nothing sent
    assert r.zscore(reachability.CONNECTED, str(alice)) == T0 + 20
