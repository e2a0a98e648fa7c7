"""The ACD's per-skill index of offerable agents: it follows every presence change, gives exactly the decisions
the rules call for (checked against a plain reading of the rules on random floors), skips calls nobody can take,
is repaired by the reconciliation job, and stays right with several processes reserving at once."""

from __future__ import annotations

import json
import multiprocessing
import random

import pytest
import redis

from callcenter.models import Role
from callcenter.services import acd, agent_state, reconcile, routing, users
from callcenter.services.auth import get_or_create_skill

T0 = 1_800_000_000.0


def indexed(r, skill_id: int) -> dict[int, list[int]]:
    """Index membership of one skill: level -> agents (only the levels that hold someone)."""
    levels = {level: acd.available_with_skill(r, skill_id, level) for level in range(1, acd.MAX_LEVEL + 1)}
    return {level: ids for level, ids in levels.items() if ids}


def make_agent(r, agent_id: int, idle_since: float, skills: dict[int, int] | None = None) -> None:
    acd.set_agent_flag(r, agent_id, "skills", acd.skills_json(skills or {}))
    outcome, _ = acd.set_agent_state(r, agent_id, "available", ("offline",), idle_since, "login")
    assert outcome == "ok"


# --- The index follows presence --------------------------------------------------------------------------------


def test_index_follows_login_state_changes_and_logout(session, factory, acd_redis):
    r = acd_redis
    user = factory.user(skills={"spanish": 7, "billing": 3})
    spanish = get_or_create_skill(session, "spanish").id
    billing = get_or_create_skill(session, "billing").id
    session.commit()
    assert indexed(r, spanish) == {}

    agent_state.login(session, r, user.id, now=T0)
    assert indexed(r, spanish) == {level: [user.id] for level in range(1, 8)}
    assert indexed(r, billing) == {level: [user.id] for level in range(1, 4)}

    agent_state.change_state(session, r, user.id, "away", "lunch", now=T0 + 10)
    assert indexed(r, spanish) == {} and indexed(r, billing) == {}

    agent_state.change_state(session, r, user.id, "available", now=T0 + 20)
    assert indexed(r, spanish) == {level: [user.id] for level in range(1, 8)}
    assert r.zscore(acd.skill_index_key(spanish, 7), user.id) == T0 + 20  # the new idle time

    agent_state.set_unreachable(r, user.id, True, now=T0 + 30)
    assert indexed(r, spanish) == {}
    agent_state.set_unreachable(r, user.id, False, now=T0 + 31)
    agent_state.disconnected(session, r, user.id, now=T0 + 32)
    assert indexed(r, spanish) == {}
    agent_state.reconnected(session, r, user.id, now=T0 + 33)
    assert indexed(r, spanish)[7] == [user.id]

    agent_state.logout(session, r, user.id, now=T0 + 40)
    assert indexed(r, spanish) == {} and indexed(r, billing) == {}
    assert "indexed" not in acd.agent_hash(r, user.id)
    assert acd.repair_agent_index(r, [user.id]) == []


def test_index_follows_offers_calls_and_wrap_up(acd_redis):
    r = acd_redis
    acd.store_queue_config(r, acd.QueueConfig(queue_id=1, skills={5: 4}, wrap_up_seconds=30))
    make_agent(r, 1, T0 - 100, {5: 6})
    make_agent(r, 2, T0 - 50, {5: 4})
    acd.enqueue(r, entry_id="CA1", queue_id=1, priority=0, enqueued_at=T0)

    offer = acd.reserve_next(r, [1], T0)
    assert offer.agent_id == 1
    assert indexed(r, 5) == {level: [2] for level in range(1, 5)}  # reserved: out of the index

    acd.release(r, "CA1", T0 + 1, "rejected", agent_id=1)  # back available, at the end of the idle line
    assert indexed(r, 5)[4] == [2, 1] and indexed(r, 5)[6] == [1]

    offer = acd.reserve_next(r, [1], T0 + 2)
    assert offer.agent_id == 2  # agent 1 declined it; agent 2 is tried first
    assert acd.accept(r, 2, "CA1", T0 + 3)
    acd.finish(r, "CA1", T0 + 60)
    assert indexed(r, 5)[4] == [1]  # agent 2 is in wrap-up
    outcome, _ = acd.set_agent_state(r, 2, "available", ("wrap_up",), T0 + 90, "wrap_up_timer", True)
    assert outcome == "ok"
    assert indexed(r, 5)[4] == [1, 2]
    assert acd.repair_agent_index(r, [1, 2]) == []


def test_a_skill_edit_reaches_routing_at_once(session, factory, acd_redis):
    r = acd_redis
    admin = factory.user(Role.ADMIN.value)
    agent = factory.user(skills={"english": 5})
    german = get_or_create_skill(session, "german")
    session.commit()
    acd.store_queue_config(r, acd.QueueConfig(queue_id=1, skills={german.id: 3}))
    agent_state.login(session, r, agent.id, now=T0)
    acd.enqueue(r, entry_id="CA1", queue_id=1, priority=0, enqueued_at=T0)
    assert acd.reserve_next(r, [1], T0 + 1) is None

    users.update_user(session, admin, agent.id, {"skills": {"english": 5, "german": 4}}, r=r)

    assert agent_state.get_presence(r, agent.id).skills == {get_or_create_skill(session, "english").id: 5,
                                                             german.id: 4}
    assert indexed(r, german.id) == {level: [agent.id] for level in range(1, 5)}
    assert acd.reserve_next(r, [1], T0 + 2).agent_id == agent.id

    # Taking a skill away takes the agent out of its sets (once they are available again).
    routing.finish_call(session, r, "CA1", T0 + 3)
    users.update_user(session, admin, agent.id, {"skills": {"english": 5}}, r=r)
    assert indexed(r, german.id) == {}
    assert acd.available_agents(r) == [agent.id]


# --- Calls nobody can take -------------------------------------------------------------------------------------


def test_a_call_nobody_can_take_is_not_walked_again_until_someone_could(acd_redis):
    r = acd_redis
    acd.store_queue_config(r, acd.QueueConfig(queue_id=1, skills={}, wrap_up_seconds=0))
    for agent_id in range(1, 201):  # many agents with skill 1 or skill 2 at 10, nobody with both
        make_agent(r, agent_id, T0 - 1000 + agent_id, {1: 10, 2: 9} if agent_id <= 100 else {1: 9, 2: 10})
    acd.enqueue(r, entry_id="CA-top", queue_id=1, priority=100, enqueued_at=T0, skills={1: 10, 2: 10})
    for n in range(5):
        acd.enqueue(r, entry_id=f"CA{n}", queue_id=1, priority=0, enqueued_at=T0 + n)

    first = acd.reserve_next(r, [1], T0 + 10)
    assert first.call_sid == "CA0" and first.agent_id == 1
    assert first.agents_examined > 100  # walked one skill's set once: nobody there has the other at 10

    second = acd.reserve_next(r, [1], T0 + 11)
    assert (second.call_sid, second.agent_id, second.entries_examined) == ("CA1", 2, 2)
    assert second.agents_examined == 1  # the blocked call was skipped without looking at any agent

    # An agent who has both skills becomes available: the blocked call is theirs at the next decision.
    make_agent(r, 500, T0 + 12, {1: 10, 2: 10})
    third = acd.reserve_next(r, [1], T0 + 13)
    assert (third.call_sid, third.agent_id) == ("CA-top", 500)


def test_a_queue_nobody_offerable_can_serve_is_not_read(acd_redis):
    r = acd_redis
    acd.store_queue_config(r, acd.QueueConfig(queue_id=1, skills={9: 5}))
    acd.store_queue_config(r, acd.QueueConfig(queue_id=2, skills={}))
    make_agent(r, 1, T0, {9: 4})
    for n in range(30):
        acd.enqueue(r, entry_id=f"CA{n}", queue_id=1, priority=50, enqueued_at=T0 + n)
    acd.enqueue(r, entry_id="CB", queue_id=2, priority=0, enqueued_at=T0)

    offer = acd.reserve_next(r, [1, 2], T0 + 40)

    assert (offer.call_sid, offer.agents_examined, offer.entries_examined) == ("CB", 1, 1)


# --- Exactly the old rules, on random floors -------------------------------------------------------------------


def reference_choice(r, queue_ids: list[int], now: float, scan: int = acd.DEFAULT_SCAN) -> tuple[str, int] | None:
    """The routing rules read plainly (what the script did before the index): every candidate, every agent."""
    candidates = []
    configs = {}
    for q in queue_ids:
        config = acd.load_queue_config(r, q)
        if config is None or not config.active:
            continue
        configs[q] = config
        for sid, score in r.zrange(acd.queue_key(q), 0, scan - 1, withscores=True):
            candidates.append((score, sid.decode(), q))
    agents = [i.decode() for i in r.zrange(acd.AVAILABLE, 0, -1)]
    if not candidates or not agents:
        return None

    def eligible(agent: str, reqs: list[dict]) -> bool:
        have = json.loads(acd.agent_hash(r, int(agent)).get("skills") or "{}")
        return all(int(have.get(str(s), 0)) >= int(level) for req in reqs for s, level in req.items())

    for _, sid, q in sorted(candidates):
        h = {k.decode(): v.decode() for k, v in r.hgetall(acd.call_key(sid)).items()}
        if h.get("status") != "waiting":
            continue
        reqs = [configs[q].skills] + ([json.loads(h["skills"])] if h.get("skills") else [])
        sticky = h.get("sticky_agent_id")
        if sticky and eligible(sticky, reqs):
            if r.zscore(acd.AVAILABLE, sticky) is not None:
                return sid, int(sticky)
            if now < float(h.get("sticky_until") or 0):
                st = acd.agent_hash(r, int(sticky))
                if st.get("state") not in (None, "", "offline") and st.get("unreachable") != "1":
                    continue
        declined = h.get("declined") or ""
        fallback = None
        for agent in agents:
            if eligible(agent, reqs):
                if f",{agent}," in declined:
                    fallback = fallback or agent
                else:
                    return sid, int(agent)
        if fallback:
            return sid, int(fallback)
    return None


@pytest.mark.parametrize(("seed", "queue_count"), [(1, 4), (2, 4), (3, 24)])  # 24: queues read in head order
def test_decisions_match_the_rules_on_random_floors(acd_redis, seed, queue_count):
    r = acd_redis
    rng = random.Random(seed)
    queues = list(range(1, queue_count + 1))
    for q in queues:
        skills = dict(rng.sample([(1, rng.randint(1, 8)), (2, rng.randint(1, 8)), (3, 11)], rng.randint(0, 2)))
        acd.store_queue_config(r, acd.QueueConfig(queue_id=q, skills=skills, wrap_up_seconds=0,
                                                  active=q != 4 or seed != 2))
    agent_ids = list(range(1, 41))

    def random_skills() -> dict[int, int]:
        return {s: rng.choice([1, 3, 5, 7, 9, 10, 12]) for s in rng.sample([1, 2, 3, 4], rng.randint(0, 3))}

    for agent_id in agent_ids:
        make_agent(r, agent_id, T0 - rng.randint(0, 5), random_skills())  # equal idle times: ties by id
    clock = T0
    calls = 0
    decisions = 0
    for _ in range(400):
        clock += 1
        action = rng.random()
        if action < 0.45:
            calls += 1
            extra = {s: rng.randint(1, 11) for s in rng.sample([1, 2, 3, 4], rng.randint(0, 2))}
            sticky = rng.choice(agent_ids) if rng.random() < 0.2 else None
            acd.enqueue(r, entry_id=f"CA{calls:04d}", queue_id=rng.choice(queues), priority=rng.choice([0, 0, 1, 5]),
                        enqueued_at=clock, skills=extra or None, sticky_agent_id=sticky,
                        sticky_until=clock + rng.choice([-5, 20]) if sticky else None)
        elif action < 0.55:
            agent_id = rng.choice(agent_ids)
            acd.set_agent_flag(r, agent_id, "skills", acd.skills_json(random_skills()))
        elif action < 0.65:
            agent_id = rng.choice(agent_ids)
            to = rng.choice(["away", "available", "offline"])
            acd.set_agent_state(r, agent_id, to, ("available", "away", "offline", "wrap_up"), clock, "x")
        elif action < 0.7:
            acd.set_agent_flag(r, rng.choice(agent_ids), "unreachable", rng.choice(["1", None]))
        expected = reference_choice(r, queues, clock)
        offer = acd.reserve_next(r, queues, clock)
        assert (None if offer is None else (offer.call_sid, offer.agent_id)) == expected, decisions
        if offer is None:
            continue
        decisions += 1
        if rng.random() < 0.3:
            acd.release(r, offer.call_sid, clock, "rejected", agent_id=offer.agent_id)
        else:
            assert acd.accept(r, offer.agent_id, offer.call_sid, clock)
            acd.finish(r, offer.call_sid, clock)
    assert decisions > 50
    assert acd.repair_agent_index(r, agent_ids) == []
    for q in queues:  # each queue's best waiting entry is where decisions look for it
        head = r.zrange(acd.queue_key(q), 0, 0, withscores=True)
        assert r.zscore(acd.HEADS, q) == (head[0][1] if head else None)


def test_agents_offerable_before_the_index_existed_are_indexed_on_first_use(acd_redis):
    r = acd_redis
    acd.store_queue_config(r, acd.QueueConfig(queue_id=1, skills={4: 6}))
    make_agent(r, 1, T0 - 10, {4: 5})
    make_agent(r, 2, T0 - 5, {4: 8})
    # What an upgrade finds: agents in the available set, no index at all.
    for key in r.scan_iter(match=f"{acd.SKILL_INDEX}*"):
        r.delete(key)
    r.delete(acd.INDEX_VERSIONS, acd.INDEX_READY, acd.HEADS)
    for agent_id in (1, 2):
        r.hdel(acd.agent_key(agent_id), "indexed")
    acd.enqueue(r, entry_id="CA1", queue_id=1, priority=0, enqueued_at=T0)

    assert acd.reserve_next(r, [1], T0).agent_id == 2
    assert acd.available_with_skill(r, 4, 5) == [1]


# --- Crash repair by the reconciliation job --------------------------------------------------------------------


def test_reconciliation_repairs_the_index_and_stuck_agents_come_back_into_it(session, factory, acd_redis):
    r = acd_redis
    drifted = factory.user(skills={"sales": 6})
    stuck = factory.user(skills={"sales": 2})
    session.commit()
    sales = get_or_create_skill(session, "sales").id
    # One agent is stuck on a call whose webhooks never came (the call is not in the database).
    acd.store_queue_config(r, acd.QueueConfig(queue_id=1, skills={sales: 2}, wrap_up_seconds=0))
    agent_state.login(session, r, stuck.id, now=T0)
    acd.enqueue(r, entry_id="CA-lost", queue_id=1, priority=0, enqueued_at=T0)
    offer = acd.reserve_next(r, [1], T0 + 1)
    assert offer.agent_id == stuck.id
    assert acd.accept(r, stuck.id, "CA-lost", T0 + 1)
    assert stuck.id not in acd.available_with_skill(r, sales, 1)
    # The other's index entries are wrong after a hand edit (or a restore): missing from two sets, in a third.
    agent_state.login(session, r, drifted.id, now=T0 + 2)
    r.zrem(acd.skill_index_key(sales, 4), drifted.id)
    r.zrem(acd.AVAILABLE, drifted.id)
    r.zadd(acd.skill_index_key(sales, 9), {drifted.id: T0})

    repairs = reconcile.repair_agent_states(session, r, now=T0 + 600)

    assert {(x.agent_id, x.action) for x in repairs} == {
        (drifted.id, "re-indexed"), (stuck.id, "ended the call; wrap-up started")}
    assert indexed(r, sales) == {level: ([drifted.id, stuck.id] if level <= 2 else [drifted.id])
                                 for level in range(1, 7)}
    assert acd.available_agents(r) == [drifted.id, stuck.id]
    assert acd.repair_agent_index(r, [drifted.id, stuck.id]) == []
    assert reconcile.repair_agent_states(session, r, now=T0 + 1200) == []


# --- Several processes racing ----------------------------------------------------------------------------------


def _race(url: str, queue_ids: list[int], start, results) -> None:
    """One web process: reserve, take and end calls as fast as possible until the queues are empty."""
    r = redis.Redis.from_url(url)
    start.wait(60)
    mine = []
    clock = T0
    idle_rounds = 0
    while idle_rounds < 200:
        clock += 0.001
        offer = acd.reserve_next(r, queue_ids, clock)
        if offer is None:
            if sum(acd.queue_stats(r, q, clock).in_queue for q in queue_ids) == 0:
                break
            idle_rounds += 1
            continue
        holders = r.incr(f"test:holding:{offer.agent_id}")
        mine.append((offer.call_sid, offer.agent_id, holders))
        skills = json.loads(acd.agent_hash(r, offer.agent_id)["skills"])
        need = acd.load_queue_config(r, offer.queue_id).skills
        assert all(int(skills.get(str(s), 0)) >= level for s, level in need.items())
        r.decr(f"test:holding:{offer.agent_id}")
        assert acd.accept(r, offer.agent_id, offer.call_sid, clock)
        acd.finish(r, offer.call_sid, clock)
    results.put(mine)
    r.close()


@pytest.mark.slow
def test_processes_racing_on_skill_queues_serve_each_call_once_and_leave_the_index_right(redis_server, acd_redis):
    r = acd_redis
    rng = random.Random(5)
    queue_ids = [1, 2, 3]
    for q in queue_ids:
        acd.store_queue_config(r, acd.QueueConfig(queue_id=q, skills={q: 3}, wrap_up_seconds=0))
    for agent_id in range(1, 31):
        make_agent(r, agent_id, T0 - agent_id, {s: rng.randint(3, 10) for s in rng.sample(queue_ids, 2)})
    for n in range(120):
        acd.enqueue(r, entry_id=f"CA{n:03d}", queue_id=queue_ids[n % 3], priority=n % 4, enqueued_at=T0 - 200 + n)

    context = multiprocessing.get_context("spawn")
    start = context.Barrier(4)
    results = context.Queue()
    workers = [context.Process(target=_race, args=(redis_server.url, queue_ids, start, results)) for _ in range(4)]
    for worker in workers:
        worker.start()
    handled = [item for _ in workers for item in results.get(timeout=90)]
    for worker in workers:
        worker.join(30)
        assert worker.exitcode == 0

    assert sorted(sid for sid, _, _ in handled) == [f"CA{n:03d}" for n in range(120)]
    assert all(holders == 1 for _, _, holders in handled)
    assert sorted(acd.available_agents(r)) == list(range(1, 31))
    assert acd.repair_agent_index(r, list(range(1, 31))) == []
    for q in queue_ids:
        expected = sorted(a for a in range(1, 31)
                          if json.loads(acd.agent_hash(r, a)["skills"]).get(str(q), 0) >= 3)
        assert sorted(acd.available_with_skill(r, q, 3)) == expected
