"""The screen-pop finds the caller whatever the stored format, lists candidates, or prefills a new contact."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import event

from callcenter.extensions import db
from callcenter.models import Disposition, Ticket, utcnow
from callcenter.redis_conn import get_redis
from callcenter.services import calls, contacts, offers, users
from callcenter.services.contacts import PhoneInput
from callcenter.services.screen_pop import build_screen_pop


def test_known_caller_on_a_second_number_typed_in_another_format(session, factory):
    agent = factory.user()
    account = factory.account(name="Globex", vip=True, owner_id=agent.id)  # the agent may only link what they see
    dana = contacts.create_contact(session, agent, {"first_name": "Dana", "last_name": "Lee", "account_id": account.id},
                                   [PhoneInput("(415) 555-0100"), PhoneInput("628.555.0111")])
    session.add(Ticket(subject="Broken router", priority="urgent", contact_id=dana.id,
                       due_at=utcnow() + timedelta(hours=4)))
    session.add(Ticket(subject="Old issue", status="closed", contact_id=dana.id))
    session.commit()
    for n in range(7):
        factory.call(from_number="+16285550111", contact_id=dana.id, notes=f"call {n}")

    pop = build_screen_pop(session, call_sid="CAnew", from_number="+16285550111", queue_name="Support",
                           ivr_path=[{"node": "main", "input": "2", "via": "dtmf"}], waited_seconds=12.34,
                           viewer_id=agent.id)

    assert pop["contact"]["name"] == "Dana Lee"
    assert pop["contact"]["vip"] is True and pop["vip"] is True  # VIP through the account
    assert pop["contact"]["account"]["name"] == "Globex"
    assert [t["subject"] for t in pop["open_tickets"]] == ["Broken router"]
    assert len(pop["history"]) == 5
    assert pop["history"][0]["notes"] == "call 6"  # newest first
    assert (pop["queue"], pop["waited_seconds"], pop["ivr_path"][0]["input"]) == ("Support", 12.3, "2")
    assert pop["candidates"] == [] and pop["new_contact"] is None


def test_two_contacts_on_one_number_give_a_pick_list(session, factory):
    factory.contact(phones=("+14155550100",), first_name="Ann")
    factory.contact(phones=("+14155550100",), first_name="Ben")

    pop = build_screen_pop(session, call_sid="CA1", from_number="+14155550100")

    assert pop["contact"] is None
    assert sorted(c["first_name"] for c in pop["candidates"]) == ["Ann", "Ben"]


def test_unknown_caller_gets_a_prefilled_new_contact_card(session):
    pop = build_screen_pop(session, call_sid="CA1", from_number="+442079460958")
    assert pop["contact"] is None and pop["candidates"] == []
    assert pop["new_contact"] == {"phone": "+442079460958", "phone_display": "+44 20 7946 0958",
                                  "time_zones": ["Europe/London"]}


def test_anonymous_caller_does_not_break_the_pop(session):
    pop = build_screen_pop(session, call_sid="CA1", from_number="Anonymous")
    assert pop["from_display"] == "Anonymous" and pop["history"] == [] and pop["new_contact"]["phone"] is None


def test_the_pop_history_shows_only_calls_the_offered_agent_may_see(app, session, factory):
    """A North agent who put a South customer's number on a contact of their own, then is offered that customer,
    must not read South's calls, notes and dispositions in the pop (the contact timeline's scope, services.scope)."""
    number = "+14155550199"
    north = factory.user("agent", team="North", username="north", skills={"sales": 5})
    south = factory.user("agent", team="South", username="south", skills={"sales": 5})
    south_super = factory.user("supervisor", team="South", username="south_super")
    planted = factory.contact(phones=(number,), owner_id=north.id)
    secret = Disposition(code="churn_risk", label="Churn risk")
    session.add(secret)
    session.flush()
    south_call = factory.call(agent_id=south.id, contact_id=planted.id, from_number=number,
                              notes="South secret: wants to cancel", disposition_id=secret.id)
    # taken by North after South was offered it (a transfer): South's supervisor sees it through the offer
    transferred = factory.call(agent_id=north.id, contact_id=planted.id, from_number=number, notes="North 2")
    calls.record_event(session, transferred, "offered", {"agent_id": south.id})
    missed = factory.call(from_number=number, status="no-answer")
    north_call = factory.call(agent_id=north.id, contact_id=planted.id, from_number=number, notes="North note")
    session.commit()
    ringing = factory.call(from_number=number)
    redis_client = get_redis(app)
    offer = {"call_sid": ringing.call_sid, "queue_id": factory.demo_line()["Sales"].id,
             "expires_at": "2030-01-01T00:00:00+00:00", "from_number": number}

    seen = {who.username: offers.prepare_offer(session, redis_client, agent_id=who.id, **offer)["pop"]["history"]
            for who in (north, south_super)}

    assert {h["call_sid"] for h in seen["north"]} == {north_call.call_sid, transferred.call_sid, missed.call_sid}
    assert not any("South" in str(v) or v == "Churn risk" for h in seen["north"] for v in h.values())
    assert {h["call_sid"] for h in seen["south_super"]} == {south_call.call_sid, transferred.call_sid,
                                                            missed.call_sid}
    assert ringing.call_sid not in {h["call_sid"] for item in seen.values() for h in item}


def test_the_pop_scopes_the_history_by_the_agents_role_and_team_as_they_are_now(app, session, factory):
    """The pop keeps who may see what in memory (a read of the agent per pop otherwise): a promotion, or a
    deactivation, reaches the next pop."""
    number = "+14155550177"
    north = factory.user("agent", team="North", username="north")
    south = factory.user("agent", team="South", username="south")
    admin = factory.user("admin", username="boss")
    south_call = factory.call(agent_id=south.id, from_number=number, notes="South's")
    session.commit()
    ringing = factory.call(from_number=number)
    redis_client = get_redis(app)
    offer = {"call_sid": ringing.call_sid, "queue_id": factory.demo_line()["Sales"].id,
             "expires_at": "2030-01-01T00:00:00+00:00", "from_number": number}

    def history_seen_by_north() -> set[str]:
        pop = offers.prepare_offer(session, redis_client, agent_id=north.id, **offer)["pop"]
        return {h["call_sid"] for h in pop["history"]}

    assert south_call.call_sid not in history_seen_by_north()
    users.update_user(session, admin, north.id, {"role": "supervisor", "team": "South"})
    assert south_call.call_sid in history_seen_by_north()
    users.update_user(session, admin, north.id, {"active": False})
    assert south_call.call_sid not in history_seen_by_north()


def test_a_second_pop_for_an_agent_reads_nothing_of_them(app, session, factory):
    number = "+14155550166"
    agent = factory.user("agent", team="North", username="north")
    session.commit()
    redis_client = get_redis(app)
    queue_id = factory.demo_line()["Sales"].id
    reads: list[str] = []

    def record(_conn, _cursor, statement, *_args) -> None:
        reads.append(statement)

    offers.prepare_offer(session, redis_client, agent_id=agent.id, call_sid=factory.call(from_number=number).call_sid,
                         queue_id=queue_id, expires_at="2030-01-01T00:00:00+00:00", from_number=number)
    second_sid, agent_id = factory.call(from_number=number).call_sid, agent.id
    session.expunge_all()  # each offer's pop is built in a session of its own
    event.listen(db.engine, "before_cursor_execute", record)
    try:
        pop = offers.prepare_offer(session, redis_client, agent_id=agent_id, queue_id=queue_id, call_sid=second_sid,
                                   expires_at="2030-01-01T00:00:00+00:00", from_number=number)["pop"]
    finally:
        event.remove(db.engine, "before_cursor_execute", record)
    assert pop["history"]  # the first call: the pop did scope a history for the agent
    loads_of_a_user = [s for s in reads if s.lstrip().startswith("SELECT users.")]
    assert reads and loads_of_a_user == []


def test_a_pop_without_an_agent_lists_no_calls(session, factory):
    factory.call(from_number="+14155550100", notes="someone's call")
    pop = build_screen_pop(session, call_sid="CAnew", from_number="+14155550100")
    assert pop["history"] == []


def test_pop_suggests_published_articles_of_the_chosen_queue(session, factory):
    from callcenter.services import knowledge_base

    queues = factory.demo_line()
    editor = factory.user("supervisor")
    category = knowledge_base.ensure_category(session, "Connectivity", queue_id=queues["Support"].id)
    session.commit()
    article = knowledge_base.create_article(session, editor, {"title": "Router keeps rebooting",
                                                              "category": category.name, "status": "published"})
    knowledge_base.create_article(session, editor, {"title": "Not yet", "category": category.name})

    pop = build_screen_pop(session, call_sid="CA1", from_number="+14155550100", queue_name="Support")
    assert pop["suggested_articles"] == [{"id": article.id, "title": "Router keeps rebooting"}]
    assert build_screen_pop(session, call_sid="CA2", from_number="+14155550100",
                            queue_name="Sales")["suggested_articles"] == []
