"""The pop's contact actions through the API: create the new caller's contact from the call, pick one of several
contacts sharing the number (logged once however often it is picked), only by the agent on the call; and the
segments list and a campaign list built from a segment."""

from __future__ import annotations

from sqlalchemy import select

from callcenter.models import AuditEntry, Call, CallEvent, Campaign, Contact
from callcenter.services import rfm, timeline
from tests.api.conftest import assert_error

NEW_CALLER = "+14155550177"
SHARED = "+14155550188"


def _links(session, call: Call) -> list[dict]:
    session.expire_all()
    return [e.data for e in session.scalars(select(CallEvent).where(CallEvent.call_id == call.id,
                                                                    CallEvent.kind == "contact_linked")
                                            .order_by(CallEvent.id))]


def test_the_agent_creates_the_new_callers_contact_from_the_call_once(client, session, factory, bearer):
    alice = factory.user("agent", team="North")
    bob = factory.user("agent", team="North")
    call = factory.call(from_number=NEW_CALLER, agent_id=alice.id)
    path = f"/api/v1/calls/{call.call_sid}/contact"

    assert_error(client.post(path, json={"last_name": "Nguyen"}, headers=bearer(bob)), 403, "call_sid")
    assert_error(client.post("/api/v1/calls/CAnope/contact", json={}, headers=bearer(alice)), 404, "call_sid")
    assert client.get(path, headers=bearer(alice)).get_json() == {
        "call_sid": call.call_sid, "contact_id": None, "changed": False}

    created = client.post(path, json={"first_name": "Minh", "last_name": "Nguyen"}, headers=bearer(alice))
    assert created.status_code == 201, created.get_json()
    body = created.get_json()
    assert (body["display_name"], body["owner_id"], [p["e164"] for p in body["phones"]]) == (
        "Minh Nguyen", alice.id, [NEW_CALLER])
    # A double click (or a reload) returns the same contact: one contact, one link.
    again = client.post(path, json={"first_name": "Minh", "last_name": "Nguyen"}, headers=bearer(alice))
    assert (again.status_code, again.get_json()["id"]) == (200, body["id"])
    assert session.scalar(select(Contact.id).where(Contact.last_name == "Nguyen")) == body["id"]
    assert len(session.scalars(select(Contact).where(Contact.last_name == "Nguyen")).all()) == 1
    assert [d["contact_id"] for d in _links(session, call)] == [body["id"]]
    assert client.get(path, headers=bearer(alice)).get_json()["contact_id"] == body["id"]

    # The contact's timeline shows the call.
    items = timeline.contact_timeline(session, alice, body["id"])
    assert [(i["kind"], i["call_sid"]) for i in items if i["kind"] == "call"] == [("call", call.call_sid)]


def test_picking_one_of_several_contacts_links_the_call_once(client, session, factory, bearer):
    alice = factory.user("agent", team="North")
    south = factory.user("agent", team="South")
    mine = factory.contact(phones=(SHARED,), owner_id=alice.id, first_name="Li", last_name="Wei")
    theirs = factory.contact(phones=(SHARED,), owner_id=south.id, first_name="Li", last_name="Na")
    elsewhere = factory.contact(phones=("+14155550111",), owner_id=south.id)
    call = factory.call(from_number=SHARED, agent_id=alice.id)
    path = f"/api/v1/calls/{call.call_sid}/contact"

    # Another team's contact who shares the number is a candidate (the pop showed it); one who does not is not.
    assert_error(client.put(path, json={"contact_id": elsewhere.id}, headers=bearer(alice)), 404, "contact_id")
    assert_error(client.put(path, json={"contact_id": mine.id}, headers=bearer(south)), 403, "call_sid")

    first = client.put(path, json={"contact_id": theirs.id}, headers=bearer(alice))
    assert first.get_json() == {"call_sid": call.call_sid, "contact_id": theirs.id, "changed": True}
    # Picked again (a second click, or after reloading the console): nothing changes, nothing is logged.
    second = client.put(path, json={"contact_id": theirs.id}, headers=bearer(alice))
    assert second.get_json() == {"call_sid": call.call_sid, "contact_id": theirs.id, "changed": False}
    assert _links(session, call) == [{"contact_id": theirs.id, "agent_id": alice.id, "previous_contact_id": None}]
    audit = session.scalars(select(AuditEntry).where(AuditEntry.action == "call.contact_linked")).all()
    assert [(a.entity_id, a.details["contact_id"]) for a in audit] == [(str(call.id), theirs.id)]
    assert session.get(Call, call.id).contact_id == theirs.id

    # The picked contact's timeline shows the call to the agent (the call now makes the contact theirs to see).
    items = timeline.contact_timeline(session, alice, theirs.id)
    assert [i["call_sid"] for i in items if i["kind"] == "call"] == [call.call_sid]

    # A wrong pick corrected: one more log entry, for the correction only.
    client.put(path, json={"contact_id": mine.id}, headers=bearer(alice))
    assert [d["contact_id"] for d in _links(session, call)] == [theirs.id, mine.id]
    assert client.get(path, headers=bearer(alice)).get_json()["contact_id"] == mine.id


def test_segments_and_a_campaign_list_from_one(client, session, factory, bearer):
    supervisor = factory.user("supervisor", team="Outbound")
    agent = factory.user("agent", team="Outbound")
    factory.contact(phones=("+14155550122",))
    campaign = Campaign(name="Win back")
    session.add(campaign)
    session.commit()
    rfm.compute_all(session)

    listed = client.get("/api/v1/segments", headers=bearer(agent)).get_json()["items"]
    assert [(s["code"], s["contacts"]) for s in listed] == [
        ("champions", 0), ("loyal", 0), ("new", 0), ("at_risk", 0), ("hibernating", 1), ("potential", 0)]
    assert listed[3]["label"] == "At risk"
    zh = client.get("/api/v1/segments", headers={**bearer(agent), "Accept-Language": "zh-Hans"}).get_json()
    assert zh["items"][0]["label"] == "冠军客户"

    path = f"/api/v1/segments/hibernating/campaigns/{campaign.id}"
    assert_error(client.post(path, headers=bearer(agent)), 403)
    assert_error(client.post(f"/api/v1/segments/whales/campaigns/{campaign.id}", headers=bearer(supervisor)),
                 422, "segment")
    added = client.post(path, headers=bearer(supervisor))
    assert added.get_json() == {"campaign_id": campaign.id, "segment": "hibernating", "added": 1, "blocked": 0,
                                "skipped": 0}


def test_an_accounts_value_feeds_the_value_score(client, session, factory, bearer):
    supervisor = factory.user("supervisor", team="Sales")
    headers = bearer(supervisor)
    created = client.post("/api/v1/accounts", json={"name": "Initech", "value": 30000}, headers=headers)
    assert (created.status_code, created.get_json()["value"]) == (201, 30000.0)
    account_id = created.get_json()["id"]
    contact = factory.contact(account_id=account_id, owner_id=supervisor.id)
    rfm.compute_all(session)
    assert rfm.cards_of(session, [contact.id])[contact.id]["value"] == 4
    patched = client.patch(f"/api/v1/accounts/{account_id}", json={"value": 100000}, headers=headers)
    assert patched.get_json()["value"] == 100000.0
    assert_error(client.patch(f"/api/v1/accounts/{account_id}", json={"value": -1}, headers=headers), 422, "value")
    # So small a negative that it rounds to "-0.00" at two places: still negative (the API fuzzer found it).
    assert_error(client.post("/api/v1/accounts", json={"name": "Tiny", "value": -2.2250738585072014e-308},
                             headers=headers), 422, "value")
    rfm.compute_all(session)
    session.expire_all()
    assert rfm.cards_of(session, [contact.id])[contact.id]["value"] == 5
