"""SLA escalation with time moved forward: a warning to the assignee, then the ticket goes to the supervisor,
each exactly once however often the job runs; and the ticker enqueues the job once a minute."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from rq import Queue
from sqlalchemy import select

from callcenter.extensions import socketio
from callcenter.models import Ticket, TicketEvent
from callcenter.redis_conn import get_redis
from callcenter.services import tickets
from callcenter.services.events import DomainEvent, bus
from workers import ticker
from workers.tickets import escalate_due_tickets

MONDAY_10 = datetime(2026, 11, 30, 10, 0, tzinfo=UTC)  # default calendar: weekdays 08:00-18:00 UTC


def _escalations(session, ticket_id: int) -> list[dict]:
    session.expire_all()
    return [e.data for e in session.scalars(select(TicketEvent).where(TicketEvent.ticket_id == ticket_id,
                                                                      TicketEvent.kind == "escalated")
                                            .order_by(TicketEvent.id))]


def test_warn_then_reassign_to_the_supervisor_once_each_even_when_the_job_runs_twice(app, session, factory):
    agent = factory.user("agent", team="North", username="north_agent")
    supervisor = factory.user("supervisor", team="North", username="north_super")
    ticket = tickets.create_ticket(session, agent, subject="Outage", priority="urgent", now=MONDAY_10)
    tickets.change_status(session, agent, ticket.id, "open", now=MONDAY_10 + timedelta(minutes=10))  # answered
    # Urgent: 240 business minutes to resolve, warned at 80 % (192 minutes).
    assert (ticket.warn_at, ticket.due_at) == (MONDAY_10 + timedelta(minutes=192), MONDAY_10 + timedelta(hours=4))
    published: list[DomainEvent] = []
    bus.subscribe(published.append)
    http = app.test_client()
    http.post("/login", data={"username": "north_agent", "password": "password123"})
    console = socketio.test_client(app, namespace="/agent", flask_test_client=http)
    console.get_received("/agent")
    try:
        assert escalate_due_tickets(now=MONDAY_10 + timedelta(hours=3)) == {"warned": [], "reassigned": []}

        warn_time = MONDAY_10 + timedelta(minutes=193)
        assert escalate_due_tickets(now=warn_time) == {"warned": [ticket.id], "reassigned": []}
        assert escalate_due_tickets(now=warn_time.isoformat()) == {"warned": [], "reassigned": []}
        assert _escalations(session, ticket.id) == [
            {"level": 1, "assignee_id": agent.id, "due_at": ticket.due_at.isoformat()}]
        pushed = [e["args"][0] for e in console.get_received("/agent") if e["name"] == "ticket"]
        assert [(p["event"], p["ticket_id"], p["level"]) for p in pushed] == [("ticket.escalated", ticket.id, 1)]

        breach_time = MONDAY_10 + timedelta(hours=4, minutes=1)
        assert escalate_due_tickets(now=breach_time) == {"warned": [], "reassigned": [ticket.id]}
        assert escalate_due_tickets(now=breach_time + timedelta(minutes=1)) == {"warned": [], "reassigned": []}
    finally:
        bus.unsubscribe(published.append)
        console.disconnect("/agent")

    session.expire_all()
    escalated = session.get(Ticket, ticket.id)
    assert (escalated.escalation_level, escalated.assignee_id) == (2, supervisor.id)
    assert [e["level"] for e in _escalations(session, ticket.id)] == [1, 2]
    assert _escalations(session, ticket.id)[1]["previous_assignee_id"] == agent.id
    levels = sorted((e.payload["agent_id"], e.payload["level"]) for e in published if e.name == "ticket.escalated")
    assert levels == sorted([(agent.id, 1), (agent.id, 2), (supervisor.id, 2)])


def test_resolved_tickets_and_reopened_clocks(app, session, factory):
    agent = factory.user("agent", team="North")
    factory.user("supervisor", team="North")
    done = tickets.create_ticket(session, agent, subject="Fixed fast", priority="urgent", now=MONDAY_10)
    tickets.change_status(session, agent, done.id, "resolved", now=MONDAY_10 + timedelta(minutes=5))
    assert escalate_due_tickets(now=MONDAY_10 + timedelta(days=1)) == {"warned": [], "reassigned": []}

    # Reopened the next day: a fresh clock, so nothing is due until 80 % of it.
    back = MONDAY_10 + timedelta(days=1)
    tickets.reopen_for_contact(session, None, reason="call", now=back, policy=tickets.TicketPolicy())
    done.contact_id = factory.contact().id
    session.commit()
    tickets.reopen_for_contact(session, done.contact_id, reason="call", now=back, policy=tickets.TicketPolicy())
    session.commit()
    assert escalate_due_tickets(now=back + timedelta(minutes=100)) == {"warned": [], "reassigned": []}
    assert escalate_due_tickets(now=back + timedelta(minutes=200)) == {"warned": [done.id], "reassigned": []}


def test_a_first_response_not_given_in_time_hands_the_ticket_to_the_supervisor(session, factory):
    agent = factory.user("agent", team="North")
    supervisor = factory.user("supervisor", team="North")
    ticket = tickets.create_ticket(session, agent, subject="Nobody looked", priority="urgent", now=MONDAY_10)
    # Urgent: a first response within 30 business minutes; the resolution target (4 h) is far off.
    assert ticket.first_response_due_at == MONDAY_10 + timedelta(minutes=30)
    assert escalate_due_tickets(now=MONDAY_10 + timedelta(minutes=29)) == {"warned": [], "reassigned": []}
    assert escalate_due_tickets(now=MONDAY_10 + timedelta(minutes=31)) == {"warned": [], "reassigned": [ticket.id]}
    assert escalate_due_tickets(now=MONDAY_10 + timedelta(hours=5)) == {"warned": [], "reassigned": []}
    session.expire_all()
    assert session.get(Ticket, ticket.id).assignee_id == supervisor.id
    assert [(e["level"], e["missed"]) for e in _escalations(session, ticket.id)] == [(2, "first_response")]


def test_a_pending_ticket_stops_its_clock_and_resumes_with_the_time_it_had_left(session, factory):
    """Urgent at Monday 10:00 (default calendar, weekdays 08:00-18:00 UTC): warn 13:12, due 14:00. Pending from
    10:30 to Tuesday 10:00, it had 162 minutes left to the warning and 210 to the deadline, so after resuming
    they fall at Tuesday 12:42 and 13:30. While pending nothing escalates and it is not breached."""
    agent = factory.user("agent", team="North")
    factory.user("supervisor", team="North")
    ticket = tickets.create_ticket(session, agent, subject="Waiting on the customer", priority="urgent",
                                   now=MONDAY_10)
    tickets.change_status(session, agent, ticket.id, "pending", now=MONDAY_10 + timedelta(minutes=30))
    tuesday_10 = MONDAY_10 + timedelta(days=1)
    assert escalate_due_tickets(now=tuesday_10) == {"warned": [], "reassigned": []}
    session.expire_all()
    paused = session.get(Ticket, ticket.id)
    assert not tickets.is_breached(paused, tuesday_10)
    assert tickets.search_tickets(session, agent, tickets.TicketFilters(breached=True), now=tuesday_10) == ([], 0)

    tickets.change_status(session, agent, ticket.id, "open", now=tuesday_10)
    session.expire_all()
    resumed = session.get(Ticket, ticket.id)
    assert (resumed.warn_at, resumed.due_at, resumed.sla_paused_at) == (
        tuesday_10 + timedelta(hours=2, minutes=42), tuesday_10 + timedelta(hours=3, minutes=30), None)
    assert escalate_due_tickets(now=tuesday_10 + timedelta(hours=2, minutes=41)) == {"warned": [], "reassigned": []}
    assert escalate_due_tickets(now=tuesday_10 + timedelta(hours=2, minutes=43)) == {
        "warned": [ticket.id], "reassigned": []}
    assert escalate_due_tickets(now=tuesday_10 + timedelta(hours=3, minutes=31)) == {
        "warned": [], "reassigned": [ticket.id]}


def test_the_ticker_enqueues_the_escalation_job_once_a_minute(app):
    app.config["JOBS_INLINE"] = False
    r = get_redis(app)
    default = Queue("default", connection=r)
    minute = 29_000_000 * 60.0
    ticker.tick(app, minute + 1)
    ticker.tick(app, minute + 30)
    ticker.tick(app, minute + 61)
    jobs = [job_id for job_id in default.job_ids if job_id.startswith("ticket-escalation-")]
    assert jobs == ["ticket-escalation-29000000", "ticket-escalation-29000001"]
    assert default.fetch_job(jobs[0]).func_name == "workers.tickets.escalate_due_tickets"
