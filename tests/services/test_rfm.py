"""Customer analysis (RFM): scores and segments of a fixture worked out by hand from docs/rfm.md, and their use in
the pop, in routing priority (rule `segment:<name>`) and in campaign lists."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select

from callcenter.models import (
    AuditEntry,
    Campaign,
    CampaignContact,
    ContactRfm,
    DoNotCall,
    OutboundMessage,
    Queue,
    Ticket,
)
from callcenter.services import campaign_lists, rfm
from callcenter.services.errors import Conflict, Forbidden, ValidationFailed
from callcenter.services.priority import (
    CallerFacts,
    caller_facts,
    compute_priority,
    priority_from_facts,
)
from callcenter.services.screen_pop import caller_card

NOW = datetime(2026, 6, 1, 12, tzinfo=UTC)


def ago(days: float) -> datetime:
    return NOW - timedelta(days=days)


@pytest.fixture
def customers(session, factory):
    """Six customers, one per segment; the comments give each score by the thresholds of docs/rfm.md."""
    rich = factory.account(value=Decimal("150000"))  # value 5
    mid = factory.account(value=Decimal("30000"))  # value 4
    small = factory.account(value=Decimal("5000"))  # value 3
    people = {
        "ada": factory.contact(phones=("+14155550101",), account_id=rich.id),
        "ben": factory.contact(phones=("+14155550102",)),
        "cat": factory.contact(phones=("+14155550103",), account_id=mid.id),
        "dan": factory.contact(phones=("+14155550104",), account_id=small.id),
        "eve": factory.contact(phones=("+14155550105",)),
        "fay": factory.contact(phones=("+14155550106",), account_id=small.id),
    }
    # ada: 12 calls linked to her, the last 2 days ago -> recency 5, frequency 4 (12 >= 10), value 5: champions.
    for n in range(12):
        factory.call(contact_id=people["ada"].id, from_number="+14155550101", started_at=ago(2 + 5 * n))
    # A transferred leg (parent set) is part of its call, not an interaction of its own.
    parent = factory.call(contact_id=people["ada"].id, from_number="+14155550101", started_at=ago(400))
    factory.call(contact_id=people["ada"].id, from_number="+14155550101", started_at=ago(3), parent_id=parent.id)
    # ben: 10 tickets, the last 20 days ago -> recency 4, frequency 4, value 1 (no account): loyal.
    for n in range(10):
        session.add(Ticket(subject=f"T{n}", contact_id=people["ben"].id, created_at=ago(20 + 4 * n)))
    # cat: one call from her number that nobody linked, 3 days ago -> recency 5, frequency 1, value 4: new.
    factory.call(from_number="+14155550103", started_at=ago(3))
    # ... and a call from her number linked to ben counts for ben (11 interactions), not for her.
    factory.call(from_number="+14155550103", contact_id=people["ben"].id, started_at=ago(25))
    # dan: 6 messages, the last 200 days ago (recency 1), frequency 3; a call 400 days ago is outside the
    # frequency window and older than the messages: at_risk.
    for n in range(6):
        session.add(OutboundMessage(channel="sms", to_address="+14155550104", body="hi",
                                    contact_id=people["dan"].id, created_at=ago(200 + n)))
    factory.call(direction="outbound-api", from_number="+18005550100", to_number="+14155550104",
                 started_at=ago(400))
    # eve: never in touch -> 1, 1, 1: hibernating.
    # fay: 3 outbound calls to her, the last 45 days ago -> recency 3, frequency 2, value 3: potential.
    for n in range(3):
        factory.call(direction="outbound-api", from_number="+18005550100", to_number="+14155550106",
                     started_at=ago(45 + n))
    # A call in the future of NOW (clock skew) is not yet an interaction.
    factory.call(contact_id=people["eve"].id, from_number="+14155550105", started_at=NOW + timedelta(hours=1))
    session.commit()
    return people


def stored(session, people) -> dict[str, tuple]:
    session.expire_all()
    rows = {row.contact_id: row for row in session.scalars(select(ContactRfm))}
    return {name: (rows[c.id].segment, rows[c.id].recency_score, rows[c.id].frequency_score,
                   rows[c.id].value_score, rows[c.id].interactions) for name, c in people.items()}


HAND_COMPUTED = {
    "ada": ("champions", 5, 4, 5, 12),
    "ben": ("loyal", 4, 4, 1, 11),
    "cat": ("new", 5, 1, 4, 1),
    "dan": ("at_risk", 1, 3, 3, 6),
    "eve": ("hibernating", 1, 1, 1, 0),
    "fay": ("potential", 3, 2, 3, 3),
}


def test_scores_and_segments_match_the_hand_computed_fixture(session, customers):
    counts = rfm.compute_all(session, NOW)
    assert stored(session, customers) == HAND_COMPUTED
    assert counts == {"champions": 1, "loyal": 1, "new": 1, "at_risk": 1, "hibernating": 1, "potential": 1}
    row = session.get(ContactRfm, customers["dan"].id)
    assert (row.last_interaction_at, row.computed_at) == (ago(200), NOW)
    assert session.get(ContactRfm, customers["eve"].id).last_interaction_at is None


def test_a_second_pass_rewrites_the_same_rows_and_follows_time(session, customers):
    rfm.compute_all(session, NOW)
    rfm.compute_all(session, NOW)
    assert stored(session, customers) == HAND_COMPUTED
    assert session.scalar(select(ContactRfm.contact_id).where(ContactRfm.contact_id == 0)) is None
    assert len(session.scalars(select(ContactRfm)).all()) == 6
    # Five months on, nobody called again: ada's last call is 152 days old (recency 2) and only the calls of
    # the last 365 days count (all 12 still do): she is at risk; cat (153 days, one call) hibernates.
    later = NOW + timedelta(days=150)
    rfm.compute_all(session, later)
    now_stored = stored(session, customers)
    assert now_stored["ada"] == ("at_risk", 2, 4, 5, 12)
    assert now_stored["cat"] == ("hibernating", 2, 1, 4, 1)


def test_a_pass_that_meets_another_one_updates_the_rows_the_other_inserted(session, customers, monkeypatch):
    """The hourly job and a run by hand (or a test) at once: each reads that no row exists yet, and the second to
    commit used to fail on the unique contact."""
    from callcenter.extensions import db

    original = rfm.recency_score
    met = []

    def the_other_pass_commits_first(last, now):
        if not met:  # after this pass read the stored rows, before it writes its own
            met.append(True)
            with db.new_session() as other:
                other.add_all(ContactRfm(contact_id=contact.id, recency_score=1, frequency_score=1, value_score=1,
                                         segment="hibernating", interactions=0, computed_at=NOW)
                              for contact in customers.values())
                other.commit()
        return original(last, now)

    monkeypatch.setattr(rfm, "recency_score", the_other_pass_commits_first)
    counts = rfm.compute_all(session, NOW)

    assert met
    assert stored(session, customers) == HAND_COMPUTED
    assert sum(counts.values()) == len(customers)


@pytest.mark.parametrize(("days", "score"), [(0, 5), (7, 5), (7.01, 4), (30, 4), (31, 3), (90, 3), (91, 2),
                                             (180, 2), (181, 1)])
def test_recency_thresholds(days, score):
    assert rfm.recency_score(ago(days), NOW) == score


@pytest.mark.parametrize(("count", "score"), [(0, 1), (1, 1), (2, 2), (4, 2), (5, 3), (9, 3), (10, 4), (19, 4),
                                              (20, 5)])
def test_frequency_thresholds(count, score):
    assert rfm.frequency_score(count) == score


@pytest.mark.parametrize(("value", "score"), [(None, 1), ("0", 1), ("0.01", 2), ("4999.99", 2), ("5000", 3),
                                              ("25000", 4), ("99999.99", 4), ("100000", 5)])
def test_value_thresholds(value, score):
    assert rfm.value_score(None if value is None else Decimal(value)) == score


@pytest.mark.parametrize(("scores", "segment"), [
    ((4, 4, 4), "champions"), ((5, 5, 3), "loyal"), ((3, 4, 5), "loyal"), ((4, 1, 5), "new"),
    ((5, 2, 1), "potential"), ((2, 3, 5), "at_risk"), ((1, 5, 1), "at_risk"), ((2, 2, 5), "hibernating"),
    ((3, 1, 1), "potential"), ((3, 3, 3), "potential"),
])
def test_the_segment_rule(scores, segment):
    assert rfm.segment_for(*scores) == segment


def test_the_pop_shows_each_contacts_segment(session, factory, customers):
    assert caller_card(session, call_sid="CAx", from_number="+14155550101")["contact"]["rfm"] is None  # no pass yet
    rfm.compute_all(session, NOW)
    card = caller_card(session, call_sid="CAx", from_number="+14155550101")
    assert card["contact"]["rfm"] == {"segment": "champions", "recency": 5, "frequency": 4, "value": 5}
    factory.contact(phones=("+14155550104",))  # shares dan's number; no pass has scored them yet
    card = caller_card(session, call_sid="CAy", from_number="+14155550104")
    assert [c["rfm"] and c["rfm"]["segment"] for c in card["candidates"]] == ["at_risk", None]


@pytest.fixture
def queue(session) -> Queue:
    queue = Queue(name="Care", base_priority=1, priority_rules={"vip": 10, "segment:champions": 8,
                                                                "segment:at_risk": 5, "segment:nobody": 50})
    session.add(queue)
    session.commit()
    return queue


def test_a_queue_raises_the_priority_of_a_segment(session, customers, queue):
    rfm.compute_all(session, NOW)
    champion = compute_priority(session, queue, from_number="+14155550101", now=NOW)
    assert (champion.priority, champion.reasons) == (9, ("segment:champions",))
    at_risk = compute_priority(session, queue, contact_ids=[customers["dan"].id], now=NOW)
    assert (at_risk.priority, at_risk.reasons) == (6, ("segment:at_risk",))
    loyal = compute_priority(session, queue, contact_ids=[customers["ben"].id], now=NOW)
    assert (loyal.priority, loyal.reasons) == (1, ())  # no rule for loyal; "segment:nobody" is no segment

    # The facts worked out off the webhook's path carry the segment through Redis (JSON) to the same decision.
    facts = caller_facts(session, "+14155550101", now=NOW)
    assert "segment:champions" in facts.holds
    again = priority_from_facts(queue, CallerFacts.from_json(facts.to_json()))
    assert (again.priority, again.reasons) == (9, ("segment:champions",))
    queue.priority_rules = {"vip": 10}  # the queue drops the rule: the segment no longer counts
    assert priority_from_facts(queue, facts).priority == 1


def test_a_campaign_list_built_from_a_segment(session, factory, customers):
    supervisor = factory.user("supervisor", team="Outbound")
    agent = factory.user("agent", team="Outbound")
    twin = factory.contact(phones=("+14155550199", "+14155550198"), account_id=customers["ada"].account_id)
    shares = factory.contact(phones=("+14155550101",), account_id=customers["ada"].account_id)
    for n in range(10):  # twin and shares are champions too (recent, frequent, same rich account)
        factory.call(contact_id=twin.id, from_number="+14155550199", started_at=ago(1 + n))
        factory.call(contact_id=shares.id, from_number="+14155550101", started_at=ago(1 + n))
    campaign = Campaign(name="Thank you")
    session.add_all([campaign, DoNotCall(phone_e164="+14155550199")])
    session.commit()
    rfm.compute_all(session, NOW)
    assert set(rfm.contact_ids_in(session, "champions")) == {customers["ada"].id, twin.id, shares.id}

    with pytest.raises(Forbidden):
        campaign_lists.add_segment_to_campaign(session, agent, campaign.id, "champions")
    with pytest.raises(ValidationFailed):
        campaign_lists.add_segment_to_campaign(session, supervisor, campaign.id, "whales")

    result = campaign_lists.add_segment_to_campaign(session, supervisor, campaign.id, "champions")
    # ada by her number; twin by the first of his, which is on the do-not-call list (a blocked lead, never
    # dialled); shares has ada's number, already on the list: one lead per number.
    assert (result.added, result.blocked, result.skipped) == (1, 1, 1)
    leads = session.scalars(select(CampaignContact).where(CampaignContact.campaign_id == campaign.id)
                            .order_by(CampaignContact.contact_id)).all()
    assert [(lead.contact_id, lead.phone_e164, lead.status, lead.custom_fields) for lead in leads] == [
        (customers["ada"].id, "+14155550101", "pending", {"segment": "champions"}),
        (twin.id, "+14155550199", "blocked", {"segment": "champions"}),
    ]
    audit = session.scalars(select(AuditEntry).where(AuditEntry.action == "campaign.segment_added")).all()
    assert [(a.entity_id, a.details) for a in audit] == [
        (str(campaign.id), {"segment": "champions", "added": 1, "blocked": 1})]

    # Again: nobody new in the segment, nothing added. Another segment adds its own contacts.
    again = campaign_lists.add_segment_to_campaign(session, supervisor, campaign.id, "champions")
    assert (again.added, again.blocked, again.skipped) == (0, 0, 3)
    loyal = campaign_lists.add_segment_to_campaign(session, supervisor, campaign.id, "loyal")
    assert (loyal.added, loyal.blocked, loyal.skipped) == (1, 0, 0)

    campaign.status = "finished"
    session.commit()
    with pytest.raises(Conflict):
        campaign_lists.add_segment_to_campaign(session, supervisor, campaign.id, "at_risk")
