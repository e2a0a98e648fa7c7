"""An agent's softphone places a call (the console's click-to-call) through the TwiML App URL /ivr/client."""

from __future__ import annotations

from sqlalchemy import select

from callcenter.models import Call
from callcenter.services.interactions import agent_identity
from tests.support.servers import wait_until

CUSTOMER = "+14155550199"


def test_agent_calls_a_contact_with_a_chosen_caller_id(session, factory, sim_carrier):
    alice = factory.user(username="alice")
    contact = factory.contact(phones=(CUSTOMER,))
    sim_carrier.phone(CUSTOMER, answer="auto", ring_seconds=0.2)
    softphone = sim_carrier.client(agent_identity(alice.id))

    leg = softphone.connect({"To": "(415) 555-0199", "CallerId": "+18005550100"})

    wait_until(lambda: any(c.direction == "outbound-dial" and c.to == CUSTOMER and c.answered
                           for c in sim_carrier.calls.values()),
               message="the customer's phone answered")
    session.expire_all()
    record = session.scalar(select(Call).where(Call.call_sid == leg.sid))
    assert (record.direction, record.to_number, record.from_number) == ("outbound-dial", CUSTOMER, "+18005550100")
    assert (record.agent_id, record.contact_id) == (alice.id, contact.id)
    leg.hangup()


def test_a_caller_id_that_is_not_ours_is_refused(session, factory, sim_carrier):
    alice = factory.user(username="alice")
    softphone = sim_carrier.client(agent_identity(alice.id))

    leg = softphone.connect({"To": CUSTOMER, "CallerId": "+19995550000"})

    leg.wait_for_say("not one of our caller IDs")
    leg.wait_ended()
    assert not any(c.direction == "outbound-dial" for c in sim_carrier.calls.values())


def test_only_agent_softphones_may_place_calls(session, sim_carrier):
    softphone = sim_carrier.client("somebody-else")
    leg = softphone.connect({"To": CUSTOMER})
    leg.wait_for_say("active agent")
    leg.wait_ended()
