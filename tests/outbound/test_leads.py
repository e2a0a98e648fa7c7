"""The lead lifecycle: order, claims, recycling after carrier results, attempt caps, dispositions, refusals."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from callcenter.extensions import db
from callcenter.models import CampaignContact, DialAttempt, DoNotCall
from callcenter.services import dialing_gate, leads

NOW = datetime(2026, 12, 1, 18, 0, tzinfo=UTC)


def _ids(found):
    return [lead.id for lead in found]


def test_leads_come_by_priority_then_due_time_then_list_order(session, outbound):
    campaign = outbound.campaign()
    plain_first = outbound.lead(campaign)
    plain_second = outbound.lead(campaign)
    due_earlier = outbound.lead(campaign, next_attempt_at=NOW - timedelta(hours=2))
    urgent = outbound.lead(campaign, priority=5, next_attempt_at=NOW - timedelta(minutes=1))
    not_due = outbound.lead(campaign, priority=9, next_attempt_at=NOW + timedelta(minutes=1))
    owned = outbound.lead(campaign, priority=9, owner_agent_id=outbound.factory.user().id)
    outbound.lead(campaign, status="done", priority=9)
    other = outbound.campaign()
    outbound.lead(other, priority=9)

    found = leads.next_leads(session, campaign, NOW, 10)

    assert _ids(found) == [urgent.id, plain_first.id, plain_second.id, due_earlier.id]
    assert {lead.status for lead in found} == {"dialing"}
    session.expire_all()
    assert session.get(CampaignContact, not_due.id).status == "pending"
    assert session.get(CampaignContact, owned.id).status == "pending"


def test_a_claimed_lead_is_never_taken_again(session, outbound):
    campaign = outbound.campaign()
    all_ids = {outbound.lead(campaign).id for _ in range(5)}

    first = leads.next_leads(session, campaign, NOW, 3)
    second = leads.next_leads(session, campaign, NOW, 3)

    assert len(first) == 3 and len(second) == 2
    assert set(_ids(first)).isdisjoint(_ids(second))
    assert set(_ids(first)) | set(_ids(second)) == all_ids
    assert leads.next_leads(session, campaign, NOW, 3) == []


def test_two_dialers_at_once_share_the_leads_without_overlap(app, session, outbound):
    campaign = outbound.campaign()
    all_ids = {outbound.lead(campaign).id for _ in range(12)}
    taken: list[list[int]] = []
    start = threading.Barrier(2)

    def dialer() -> None:
        with app.app_context(), db.new_session() as own:
            mine = own.get(type(campaign), campaign.id)
            start.wait()
            found: list[int] = []
            while batch := leads.next_leads(own, mine, NOW, 2):
                found += _ids(batch)
            taken.append(found)

    threads = [threading.Thread(target=dialer) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)

    assert len(taken) == 2
    assert set(taken[0]).isdisjoint(taken[1])
    assert set(taken[0]) | set(taken[1]) == all_ids


def test_unanswered_calls_recycle_after_the_retry_delay_until_attempts_run_out(session, outbound):
    campaign = outbound.campaign(max_attempts=2, retry_minutes=30)
    lead = outbound.lead(campaign)

    [claimed] = leads.next_leads(session, campaign, NOW, 1)
    leads.placed(claimed, NOW)
    leads.record_result(session, claimed, leads.NO_ANSWER, NOW)
    session.commit()
    assert (lead.status, lead.attempts, lead.last_result) == ("pending", 1, "no-answer")
    assert lead.next_attempt_at == NOW + timedelta(minutes=30)
    assert leads.next_leads(session, campaign, NOW + timedelta(minutes=29), 1) == []

    [again] = leads.next_leads(session, campaign, NOW + timedelta(minutes=30), 1)
    leads.placed(again, NOW + timedelta(minutes=30))
    leads.record_result(session, again, leads.MACHINE, NOW + timedelta(minutes=30))
    session.commit()
    assert (lead.status, lead.attempts, lead.next_attempt_at) == ("failed", 2, None)


def test_a_bridged_human_waits_for_the_agents_disposition(session, outbound):
    campaign = outbound.campaign()
    agent = outbound.factory.user()
    lead = outbound.lead(campaign)
    leads.placed(lead, NOW)

    leads.record_result(session, lead, leads.HUMAN_BRIDGED, NOW, agent_id=agent.id)

    assert (lead.status, lead.agent_id) == ("connected", agent.id)


def _bridged_call(session, outbound, campaign, lead, agent):
    """A campaign call to `lead` that `agent` answered, linked to the lead through the gate's attempt row."""
    call = outbound.factory.call(direction="outbound-api", to_number=lead.phone_e164, agent_id=agent.id,
                                 campaign_id=campaign.id)
    session.add(DialAttempt(phone_e164=lead.phone_e164, path="predictive", allowed=True, campaign_id=campaign.id,
                            at=NOW, call_sid=call.call_sid, campaign_contact_id=lead.id, outcome="answered"))
    leads.placed(lead, NOW)
    leads.record_result(session, lead, leads.HUMAN_BRIDGED, NOW, agent_id=agent.id)
    session.commit()
    return call


def test_dispositions_decide_final_retry_or_callback_with_the_booking_agent(session, outbound):
    campaign = outbound.campaign(max_attempts=3, retry_minutes=60)
    outbound.disposition(campaign, "sale", "final")
    outbound.disposition(campaign, "not_now", "retry", retry_after_minutes=240)
    outbound.disposition(campaign, "call_me", "callback", retry_after_minutes=15)
    agent = outbound.factory.user()
    sold, later, callback, unknown = (outbound.lead(campaign) for _ in range(4))

    results = {}
    for lead, code in ((sold, "sale"), (later, "not_now"), (callback, "call_me"), (unknown, "no_rule")):
        call = _bridged_call(session, outbound, campaign, lead, agent)
        results[code] = leads.apply_disposition(session, call, code, NOW)
    session.commit()

    assert (sold.status, sold.last_disposition, sold.next_attempt_at) == ("done", "sale", None)
    assert (later.status, later.next_attempt_at, later.owner_agent_id) == ("pending", NOW + timedelta(hours=4), None)
    assert (callback.status, callback.owner_agent_id) == ("pending", agent.id)
    assert callback.next_attempt_at == NOW + timedelta(minutes=15)
    assert unknown.status == "done"  # a disposition without a campaign rule closes the lead
    assert results["sale"] is sold
    # The callback stays with its agent: the automatic dialer skips it, the agent's preview gets it first.
    assert callback.id not in _ids(leads.next_leads(session, campaign, NOW + timedelta(hours=5), 10))
    other_agent = outbound.factory.user()
    outbound.lead(campaign)
    assert leads.reserve(session, campaign, other_agent.id, NOW + timedelta(hours=5)).id != callback.id
    assert leads.reserve(session, campaign, agent.id, NOW + timedelta(hours=5)).id == callback.id


def test_a_retry_disposition_fails_the_lead_once_its_attempts_are_used(session, outbound):
    campaign = outbound.campaign(max_attempts=1)
    outbound.disposition(campaign, "not_now", "retry", retry_after_minutes=240)
    agent = outbound.factory.user()
    lead = outbound.lead(campaign)
    call = _bridged_call(session, outbound, campaign, lead, agent)

    leads.apply_disposition(session, call, "not_now", NOW)

    assert lead.status == "failed"


def test_a_call_of_no_campaign_has_no_lead_to_dispose(session, outbound):
    call = outbound.factory.call()
    assert leads.apply_disposition(session, call, "sale", NOW) is None


def test_gate_refusals_block_for_good_or_put_the_lead_off(session, outbound):
    campaign = outbound.campaign(calling_hours_start="09:00", calling_hours_end="20:00", max_attempts=2)
    on_dnc = outbound.lead(campaign, "+14155550123")
    session.add(DoNotCall(phone_e164="+14155550123", source="internal"))
    session.commit()
    night = datetime(2026, 12, 2, 7, 0, tzinfo=UTC)  # 23:00 the day before in San Francisco
    late = outbound.lead(campaign, "+14155550124")
    capped = outbound.lead(campaign, "+14155550125")

    for lead, when in ((on_dnc, NOW), (late, night)):
        decision = dialing_gate.may_dial(session, lead.phone_e164, actor=None, campaign=campaign, now=when,
                                         path="predictive")
        leads.refused(session, lead, decision, when)
    capped_decision = dialing_gate.DialDecision(False, capped.phone_e164, dialing_gate.CAMPAIGN_CAP)
    leads.refused(session, capped, capped_decision, NOW)
    session.commit()

    assert (on_dnc.status, on_dnc.last_result) == ("blocked", "refused:dnc_internal")
    assert late.status == "pending"
    # 09:00 in San Francisco (PST, UTC-8) is 17:00 UTC.
    assert late.next_attempt_at == datetime(2026, 12, 2, 17, 0, tzinfo=UTC)
    assert capped.status == "failed"


def test_a_lead_left_dialing_by_a_dead_dialer_goes_back_in_line(session, outbound):
    campaign = outbound.campaign()
    lead = outbound.lead(campaign)
    leads.next_leads(session, campaign, NOW, 1)

    assert leads.release_stale_claims(session, campaign, NOW + timedelta(minutes=5)) == 0
    assert leads.release_stale_claims(session, campaign, NOW + leads.STALE_CLAIM + timedelta(seconds=1)) == 1
    session.commit()
    session.expire_all()
    assert session.scalar(select(CampaignContact.status).where(CampaignContact.id == lead.id)) == "pending"


def test_a_skipped_preview_lead_goes_back_without_an_attempt(session, outbound):
    campaign = outbound.campaign(mode="preview", retry_minutes=10)
    agent = outbound.factory.user()
    lead = outbound.lead(campaign)

    reserved = leads.reserve(session, campaign, agent.id, NOW)
    assert (reserved.id, reserved.status, reserved.agent_id) == (lead.id, "reserved", agent.id)
    leads.unreserve(reserved, NOW, 10)
    session.commit()

    assert (lead.status, lead.attempts, lead.agent_id) == ("pending", 0, None)
    assert lead.next_attempt_at == NOW + timedelta(minutes=10)
