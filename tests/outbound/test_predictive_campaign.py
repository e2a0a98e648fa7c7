"""Issue 10's scenario through the carrier emulator: a predictive campaign of 50 contacts and 3 agents.

People who answer are offered to an agent like inbound callers (pop first, naming the contact and the campaign),
one more person than there are agents is abandoned after 2 s with the campaign's identification message,
machines get the voicemail drop, a no-answer is dialled again once its retry delay has passed (time moved forward
by passing `now`), every dial stores why it was placed, and the wallboard shows the campaign's figures.
"""

from __future__ import annotations

import threading
import time
from dataclasses import replace
from datetime import timedelta

import pytest
from sqlalchemy import select

from callcenter.models import CampaignContact, DialAttempt, Queue, QueueSkill, utcnow
from callcenter.redis_conn import get_redis
from callcenter.seed import ALL_WEEK
from callcenter.services import agent_state, calls, dialer, leads, wallboard
from callcenter.services.auth import get_or_create_skill
from callcenter.services.interactions import agent_identity, conference_name
from callcenter.telephony import get_provider, links
from callcenter.telephony.sim.testing import sim_carrier
from tests.outbound.conftest import over_dial
from tests.realtime.conftest import console, received
from tests.support.servers import wait_until
from workers import dialer as dialer_job
from workers.dialer import settings_from_app

__all__ = ["console", "sim_carrier"]

NUMBER = "+18005550100"
DROP = "Hello from Acme Energy, we will call you again. Goodbye."
IDENTIFICATION = "This was Acme Energy, 1 800 555 0100. We will call you back."
RETRY_MINUTES = 60


@pytest.fixture
def app_config(app_config):
    app_config.update(TELEPHONY_PROVIDER="sim", SIM_TRANSPORT="wsgi", SIM_SPEED=25, SIM_PHONE_NUMBERS=[NUMBER],
                      DIAL_CALLS_PER_SECOND=50, DIAL_RING_TIMEOUT_SECONDS=20, CAMPAIGN_CONNECT_SECONDS=2)
    return app_config


class AgentDesk(threading.Thread):
    """One agent at the console: takes the first offer (acknowledges the pop, picks up the softphone)."""

    def __init__(self, app, sock, softphone) -> None:
        super().__init__(daemon=True)
        self.app, self.sock, self.softphone = app, sock, softphone
        self.offer: dict | None = None
        self.offer_at: float | None = None
        self.leg = None
        self.error: BaseException | None = None
        self.stopped = threading.Event()

    def run(self) -> None:
        with self.app.app_context():
            self._desk()

    def _desk(self) -> None:
        try:
            while not self.stopped.is_set():
                offers = received(self.sock, "offer")
                if offers:
                    self.offer, self.offer_at = offers[0], time.monotonic()
                    self.sock.emit("offer_ack", {"call_sid": self.offer["call_sid"]}, namespace="/agent",
                                   callback=True)
                    self.softphone.wait_for_incoming(timeout=10)
                    self.leg = self.softphone.accept(timeout=10)
                    return
                self.stopped.wait(0.01)
        except BaseException as exc:  # reported by the test
            self.error = exc


def _phones(sim_carrier, numbers, **behaviour):
    for number in numbers:
        sim_carrier.phone(number, **behaviour)


def test_predictive_campaign_of_fifty_contacts_with_three_agents(session, factory, outbound, console, sim_carrier,
                                                                 app, monkeypatch):
    r = get_redis(app)
    # A fixed 2.5 lines per agent, so that a fourth person answers with no agent free: the abandon path. The real
    # pacer (which would not over-dial a cold campaign) is exercised in test_pacer_in_the_dialer.py.
    monkeypatch.setattr(dialer_job, "settings_from_app", lambda: replace(settings_from_app(), pace=over_dial(2.5)))
    skill = get_or_create_skill(session, "outbound")
    queue = Queue(name="Acme renewals", business_hours=ALL_WEEK, wrap_up_seconds=0, reservation_timeout_seconds=15)
    queue.skills = [QueueSkill(skill=skill, min_level=1)]
    session.add(queue)
    session.commit()
    agents = [factory.user(skills={"outbound": 5}, username=f"dialer{i}") for i in range(3)]
    campaign = outbound.campaign(mode="predictive", dial_ratio=2.5, agents=agents, queue=queue, max_attempts=2,
                                 retry_minutes=RETRY_MINUTES, voicemail_drop_text=DROP,
                                 identification_text=IDENTIFICATION, name="Acme renewals",
                                 script="Hello {first_name}, about your plan {plan}.")
    outbound.disposition(campaign, "sale", "final")
    outbound.disposition(campaign, "not_now", "retry", retry_after_minutes=240)
    outbound.disposition(campaign, "call_me", "callback", retry_after_minutes=30)

    # The first seven in line (priority 10): four people, two answering machines, one phone nobody picks up.
    people = [outbound.lead(campaign, f"+1415555020{i}", first_name=name, last_name="Rivera", priority=10,
                            custom_fields={"plan": f"P{i}"})
              for i, name in enumerate(("Ana", "Ben", "Cy", "Dee"), start=1)]
    machines = [outbound.lead(campaign, f"+1415555021{i}", priority=10) for i in range(1, 3)]
    nobody = outbound.lead(campaign, "+14155550220", priority=10)
    # The rest of the list (43): answering machines and busy lines.
    rest_machines = [outbound.lead(campaign, f"+141555503{i:02d}") for i in range(38)]
    rest_busy = [outbound.lead(campaign, f"+141555504{i:02d}") for i in range(5)]
    assert len(people) + len(machines) + 1 + len(rest_machines) + len(rest_busy) == 50

    _phones(sim_carrier, [p.phone_e164 for p in people], answer="auto", ring_seconds=0.2, answered_by="human")
    _phones(sim_carrier, [m.phone_e164 for m in machines], answer="auto", ring_seconds=0.2,
            answered_by="machine_end_beep")
    _phones(sim_carrier, [m.phone_e164 for m in rest_machines], answer="auto", ring_seconds=0.2,
            answered_by="machine_start")
    _phones(sim_carrier, [b.phone_e164 for b in rest_busy], answer="busy", ring_seconds=0.2)
    _phones(sim_carrier, [nobody.phone_e164], answer="no-answer")

    desks = []
    for agent in agents:
        softphone = sim_carrier.client(agent_identity(agent.id))
        sock = console(agent)
        assert sock.emit("set_state", {"state": "available"}, namespace="/agent", callback=True)["ok"]
        desks.append(AgentDesk(app, sock, softphone))
    for desk in desks:
        desk.start()

    # --- First pass, driven through the dialer's job: 2.5 lines for each of 3 idle agents -------------------------
    [run] = dialer_job.dial_running_campaigns()
    assert run.decision.lines == 7 and len(run.placed) == 7
    assert "3 idle agent(s) x dial ratio 2.5 = 7 line(s)" in run.decision.reason
    first_wave = {p.lead_id for p in run.placed}
    assert first_wave == {lead.id for lead in (*people, *machines, nobody)}

    def lead_status(lead_id):
        session.expire_all()
        return session.scalar(select(CampaignContact.status).where(CampaignContact.id == lead_id))

    def attempt_of(lead_id):
        session.expire_all()
        return session.scalar(select(DialAttempt).where(DialAttempt.campaign_contact_id == lead_id,
                                                        DialAttempt.allowed.is_(True)).order_by(DialAttempt.id))

    # Three people are bridged to the three agents, each agent having seen the pop first.
    for desk in desks:
        desk.join(20)
        assert desk.error is None, desk.error
        assert desk.leg is not None
    bridged = {}
    for desk in desks:
        pop = desk.offer["pop"]
        lead = next(p for p in people if p.phone_e164 == pop["from"])
        assert pop["contact"]["name"] == f"{lead.contact.first_name} Rivera"
        assert pop["campaign"]["name"] == "Acme renewals" and pop["campaign"]["lead_id"] == lead.id
        assert pop["campaign"]["custom_fields"] == lead.custom_fields
        plan = lead.custom_fields["plan"]
        assert pop["campaign"]["script"] == f"Hello {lead.contact.first_name}, about your plan {plan}."
        callee = sim_carrier.handle(desk.offer["call_sid"])
        answered_at = next(e["at"] for e in callee.events if e["type"] == "answered")
        assert desk.offer_at - answered_at < 2.0, "the pop must reach the agent within 2 s of the answer"
        room = conference_name(callee.sid)
        wait_until(lambda room=room: len(getattr(sim_carrier.conference(room), "participants", {}) or {}) == 2,
                   message="the person we called and the agent in one conference")
        bridged[lead.id] = (callee, desk)
    assert len(bridged) == 3

    # The fourth person found no free agent: after 2 s they hear who called and the call counts as abandoned.
    [left_alone] = [p for p in people if p.id not in bridged]
    alone = sim_carrier.handle(attempt_of(left_alone.id).call_sid)
    alone.wait_for_say("This was Acme Energy", timeout=15)
    alone.wait_ended(timeout=10)
    wait_until(lambda: attempt_of(left_alone.id).outcome == "abandoned", message="abandoned outcome")
    abandoned = attempt_of(left_alone.id)
    assert abandoned.answered_by == "human" and abandoned.outcome_at - abandoned.at >= timedelta(seconds=2)

    # Machines heard the voicemail drop, then the line was hung up; their leads are back in line.
    for lead in machines:
        handle = sim_carrier.handle(attempt_of(lead.id).call_sid)
        handle.wait_ended(timeout=10)
        assert handle.transcript == [DROP]
        wait_until(lambda lead=lead: attempt_of(lead.id).outcome == "machine", message="machine outcome")
        assert attempt_of(lead.id).answered_by == "machine_end_beep"

    # Nobody answered: the lead is recycled after the campaign's retry delay.
    wait_until(lambda: attempt_of(nobody.id).outcome == "no-answer", timeout=15, message="no-answer outcome")
    session.refresh(nobody)
    assert (nobody.status, nobody.attempts, nobody.last_result) == ("pending", 1, "no-answer")
    no_answer_at = attempt_of(nobody.id).outcome_at
    assert nobody.next_attempt_at == no_answer_at + timedelta(minutes=RETRY_MINUTES)

    for lead_id in bridged:
        assert attempt_of(lead_id).outcome == "answered"
        assert lead_status(lead_id) == "connected"

    # The wallboard shows the campaign's pacing and its figures.
    wait_until(lambda: dialer.lines_in_flight(r, campaign.id, time.time()) == 0, message="no line in flight")
    [board] = wallboard.snapshot(session, r)["campaigns"]
    assert (board["name"], board["mode"], board["lines_per_agent"]) == ("Acme renewals", "predictive", 2.5)
    assert (board["lines_ringing"], board["live_answers"], board["abandoned"], board["machines"]) == (0, 4, 1, 2)
    assert board["abandon_rate"] == 0.25 and board["max_abandon_rate"] == 0.03
    assert board["predicted_abandon_rate"] == 0.0  # what the test's fixed policy predicts

    # The agents record their dispositions; the person hangs up.
    codes = dict(zip(bridged, ("sale", "not_now", "call_me"), strict=True))
    for lead_id, (callee, desk) in bridged.items():
        record = calls.get_call(session, callee.sid)
        assert (record.campaign_id, record.agent_id) == (campaign.id, desk.offer["agent_id"])
        assert record.contact_id == session.get(CampaignContact, lead_id).contact_id
        leads.apply_disposition(session, record, codes[lead_id], utcnow())
        session.commit()
        callee.hangup()
    for agent in agents:
        wait_until(lambda agent=agent: agent_state.get_presence(r, agent.id).state == agent_state.AVAILABLE,
                   message="agent available again")
    outcome = {lead_id: session.get(CampaignContact, lead_id) for lead_id in bridged}
    statuses = sorted((codes[i], lead.status, lead.owner_agent_id is not None) for i, lead in outcome.items())
    assert statuses == [("call_me", "pending", True), ("not_now", "pending", False), ("sale", "done", False)]

    # --- Time moves on (passed as `now`, never slept) ------------------------------------------------------------
    provider, settings = get_provider(app), dialer_job.settings_from_app()
    t0 = no_answer_at

    def dial_at(now):
        placed = dialer.dial_campaign(session, r, provider, campaign, now, links.webhook_url, settings)
        wait_until(lambda: dialer.lines_in_flight(r, campaign.id, now.timestamp()) == 0, timeout=20,
                   message="the pass's lines landed")
        wait_until(lambda: all(attempt_of(p.lead_id).outcome for p in placed.placed if p.call_sid), timeout=20,
                   message="every call of the pass decided")
        return placed

    # Before its retry delay the no-answer waits; the rest of the list is dialled meanwhile, 7 lines a pass.
    early = t0 + timedelta(minutes=RETRY_MINUTES - 10)
    passes = []
    while session.scalar(select(CampaignContact.id).where(
            CampaignContact.campaign_id == campaign.id, CampaignContact.attempts == 0).limit(1)) is not None:
        passes.append(dial_at(early))
        assert len(passes) < 10
    assert [len(p.placed) for p in passes] == [7] * 6 + [1]
    assert nobody.id not in {placed.lead_id for p in passes for placed in p.placed}
    session.expire_all()
    for lead in (*rest_machines, *rest_busy):
        assert (lead.attempts, lead.status, lead.last_result) == (1, "pending", "machine" if lead in rest_machines
                                                                  else "busy")
    [board] = wallboard.snapshot(session, r)["campaigns"]
    assert (board["live_answers"], board["abandoned"], board["machines"]) == (4, 1, 2 + 38)

    # Once its delay has passed the no-answer is due again, ahead of the rest of the list (priority 10) with the
    # machines and the person left alone.
    later = t0 + timedelta(minutes=RETRY_MINUTES + 5)
    second = dial_at(later)
    assert {p.lead_id for p in second.placed[:4]} == {machines[0].id, machines[1].id, nobody.id, left_alone.id}
    refused = next(p for p in second.placed if p.lead_id == left_alone.id)
    assert refused.refused == "abandon_lockout"  # the person left alone is not called again for 72 h
    session.refresh(left_alone)
    assert left_alone.status == "pending" and left_alone.next_attempt_at > later + timedelta(hours=70)
    wait_until(lambda: lead_status(nobody.id) == "failed", timeout=15,
               message="the second no-answer uses up the campaign's attempts")
    assert {lead_status(m.id) for m in machines} == {"failed"}

    # Every dial and every refusal says why the dialer placed it at that moment.
    attempts = session.scalars(select(DialAttempt).where(DialAttempt.campaign_id == campaign.id)).all()
    # 7 in the first pass, each of the other 43 once, then 7 leads taken of which one was refused.
    assert len([a for a in attempts if a.allowed]) == 7 + 43 + 6
    assert [a.reason for a in attempts if not a.allowed] == ["abandon_lockout"]
    assert all(a.placed_because for a in attempts)
    assert {a.path for a in attempts} == {"predictive"}
    for desk in desks:
        desk.stopped.set()
