"""Duplicate contacts: found by number, e-mail and normalised name within the viewer's scope, and merged keeping
every interaction of both, the union of their numbers, the survivor's own values, and an audit trail."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from callcenter.models import (
    AuditEntry,
    Base,
    Call,
    Callback,
    Campaign,
    CampaignContact,
    Contact,
    ContactPhone,
    KbArticle,
    KbArticleUse,
    OutboundMessage,
    Ticket,
    TicketEvent,
    utcnow,
)
from callcenter.models.rfm import ContactRfm
from callcenter.services import contact_merge
from callcenter.services.errors import Conflict, NotFound


@pytest.fixture
def admin(factory):
    return factory.user("admin")


def interactions(session, factory, contact, campaign, article, n: int) -> dict[str, list[int]]:
    """`n` of each kind of interaction for `contact`; their ids by kind."""
    made: dict[str, list] = {k: [] for k in ("calls", "tickets", "events", "callbacks", "leads", "messages",
                                             "uses")}
    now = utcnow()
    for i in range(n):
        call = factory.call(contact_id=contact.id, notes=f"call note {i}")
        ticket = Ticket(subject=f"Problem {i}", contact_id=contact.id, call_id=call.id)
        session.add(ticket)
        session.flush()
        event = TicketEvent(ticket_id=ticket.id, kind="note", body=f"ticket note {i}")
        callback = Callback(contact_id=contact.id, phone_e164=contact.phones[0].e164, call_id=call.id,
                            requested_at=now, due_at=now + timedelta(hours=i + 1))
        lead = CampaignContact(campaign_id=campaign.id, contact_id=contact.id, phone_e164=contact.phones[0].e164)
        message = OutboundMessage(channel="sms", to_address=contact.phones[0].e164, body=f"hello {i}",
                                  contact_id=contact.id, call_id=call.id)
        use = KbArticleUse(article_id=article.id, kind="sent", call_id=call.id)
        session.add_all([event, callback, lead, message, use])
        session.flush()
        for kind, row in (("calls", call), ("tickets", ticket), ("events", event), ("callbacks", callback),
                          ("leads", lead), ("messages", message), ("uses", use)):
            made[kind].append(row.id)
    session.commit()
    return made


def test_a_merge_keeps_every_interaction_of_both_contacts(session, factory, admin):
    campaign = Campaign(name="Renewals")
    article = KbArticle(title="Reset a router", status="published")
    session.add_all([campaign, article])
    account = factory.account("Analytical Engines")
    survivor = factory.contact(phones=("+442079460958", "+447700900123"), first_name="Ada", last_name="Lovelace",
                               notes="Prefers mornings.")
    other = factory.contact(phones=("+447700900123", "+447700900999"), first_name="", last_name="",
                            full_name="Ada King", email="ada@example.com", account_id=account.id, language="en",
                            vip=True, notes="Called about the invoice.")
    mine = interactions(session, factory, survivor, campaign, article, 2)
    theirs = interactions(session, factory, other, campaign, article, 3)
    other_id = other.id

    result = contact_merge.merge(session, admin, survivor.id, other_id, ip_address="203.0.113.9")

    session.expire_all()
    assert session.get(Contact, other_id) is None
    for model, kind in ((Call, "calls"), (Ticket, "tickets"), (Callback, "callbacks"), (CampaignContact, "leads"),
                        (OutboundMessage, "messages")):
        ids = mine[kind] + theirs[kind]
        owners = set(session.scalars(select(model.contact_id).where(model.id.in_(ids))))
        assert owners == {survivor.id}, kind
        assert session.scalar(select(func.count()).select_from(model)
                              .where(model.contact_id == survivor.id)) == len(ids) == 5, kind
        assert session.scalar(select(func.count()).select_from(model).where(model.contact_id == other_id)) == 0
    # Ticket events and article uses hang off tickets and calls, which moved: all still there, reachable.
    events = session.scalars(select(TicketEvent).where(TicketEvent.id.in_(mine["events"] + theirs["events"])))
    assert {session.get(Ticket, e.ticket_id).contact_id for e in events} == {survivor.id}
    uses = list(session.scalars(select(KbArticleUse).where(KbArticleUse.id.in_(mine["uses"] + theirs["uses"]))))
    assert len(uses) == 5 and {session.get(Call, u.call_id).contact_id for u in uses} == {survivor.id}
    assert {c.notes for c in session.scalars(select(Call).where(Call.contact_id == survivor.id))} == {
        "call note 0", "call note 1", "call note 2"}

    merged = session.get(Contact, survivor.id)
    assert sorted(p.e164 for p in merged.phones) == ["+442079460958", "+447700900123", "+447700900999"]
    assert session.scalar(select(func.count()).select_from(ContactPhone)
                          .where(ContactPhone.e164 == "+447700900123")) == 1
    assert (merged.first_name, merged.last_name) == ("Ada", "Lovelace")  # the survivor's own values stay
    assert merged.full_name == "Ada King" and merged.email == "ada@example.com"  # empty ones are filled
    assert merged.account_id == account.id and merged.language == "en" and merged.vip is True
    assert merged.notes == "Prefers mornings.\n\nCalled about the invoice."
    assert result.moved == {"calls": 3, "callbacks": 3, "campaign_contacts": 3, "contact_phones": 1,
                            "outbound_messages": 3, "tickets": 3}

    entry = session.scalar(select(AuditEntry).where(AuditEntry.action == "contact.merged"))
    assert (entry.entity_type, entry.entity_id, entry.actor_id) == ("Contact", str(survivor.id), admin.id)
    assert entry.ip_address == "203.0.113.9"
    assert entry.details["merged_id"] == other_id and entry.details["moved"]["calls"] == 3
    assert entry.details["merged"]["email"] == "ada@example.com"
    away = session.scalar(select(AuditEntry).where(AuditEntry.action == "contact.merged_away"))
    assert away.entity_id == str(other_id) and away.details["into_id"] == survivor.id


def test_every_foreign_key_to_contacts_is_moved_by_a_merge():
    """A table that points at contacts must be known to the merge, or its rows would be lost with the contact."""
    pointing = {(table.name, fk.parent.name) for table in Base.metadata.tables.values()
                for fk in table.foreign_keys if fk.column.table.name == "contacts"}
    moved = {(model.__tablename__, column.name) for model, column in contact_merge._references()}
    assert moved | {("contact_phones", "contact_id")} == pointing
    assert {"calls", "callbacks", "tickets", "campaign_contacts", "outbound_messages"} <= {t for t, _ in moved}


def test_two_scored_contacts_merge_and_the_survivor_keeps_one_score(session, factory, admin):
    """The RFM row is one per contact (its key is the contact): the other's is dropped, not moved onto a key the
    survivor already holds, and the next scoring run counts the merged history."""
    survivor, other = factory.contact(), factory.contact()
    session.add_all([ContactRfm(contact_id=survivor.id, segment="hibernating"),
                     ContactRfm(contact_id=other.id, recency_score=5, frequency_score=5,
                                value_score=5, segment="champions")])
    session.commit()
    contact_merge.merge(session, admin, survivor.id, other.id)
    session.expire_all()
    assert [row.contact_id for row in session.scalars(select(ContactRfm))] == [survivor.id]


def test_a_contact_is_not_merged_into_itself_nor_out_of_scope(session, factory, admin):
    agent = factory.user("agent")
    mine = factory.contact(owner_id=agent.id)
    someone_elses = factory.contact()

    with pytest.raises(Conflict):
        contact_merge.merge(session, admin, mine.id, mine.id)
    with pytest.raises(NotFound):
        contact_merge.merge(session, agent, mine.id, someone_elses.id)
    assert session.get(Contact, someone_elses.id) is not None


def test_duplicates_are_found_by_number_email_and_normalised_name(session, factory, admin):
    a = factory.contact(phones=("+14155550100",), first_name="José", last_name="Álvarez", email="JA@example.com")
    b = factory.contact(phones=("+14155550100",), full_name="alvarez, jose")
    c = factory.contact(phones=("+14155550111",), first_name="Jo", last_name="Other", email="ja@example.com")
    d = factory.contact(first_name="小明", last_name="王")
    e = factory.contact(full_name="王小明")
    factory.contact(phones=("+14155550122",), first_name="Unique", last_name="Person")

    groups = {(g.reason, g.key): {x.id for x in g.contacts} for g in contact_merge.find_duplicates(session, admin)}

    assert groups == {("phone", "+14155550100"): {a.id, b.id}, ("email", "ja@example.com"): {a.id, c.id},
                      ("name", "alvarez jose"): {a.id, b.id}, ("name", "王小明"): {d.id, e.id}}


def test_an_agent_finds_only_duplicates_among_their_own_contacts(session, factory):
    agent = factory.user("agent")
    factory.contact(phones=("+14155550100",), owner_id=agent.id)
    factory.contact(phones=("+14155550100",))

    assert contact_merge.find_duplicates(session, agent) == []
