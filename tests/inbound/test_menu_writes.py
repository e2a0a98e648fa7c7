"""The menu webhook that queues a caller writes the call's events and nothing else: the call's queue, contact and
language follow from those events by derivation, in the worker, after the caller has their answer."""

from __future__ import annotations

from callcenter.models import Call
from callcenter.services import acd
from tests.inbound.conftest import NUMBER
from tests.support.servers import wait_until
from tests.support.sql import webhook_statements

KNOWN = "+14155550122"


def test_queueing_a_caller_writes_one_insert_of_events_and_derivation_files_the_queue_and_contact(
        session, factory, sim_carrier, redis_client, line, monkeypatch):
    known = factory.contact(phones=(KNOWN,), first_name="Known")
    caller = sim_carrier.dial(KNOWN, NUMBER)
    caller.wait_for_say("For sales")

    statements = webhook_statements(lambda: (caller.press("1"), wait_until(
        lambda: acd.get_entry(redis_client, caller.sid) is not None, message="caller queued")), monkeypatch)

    writes = [" ".join(s.split()[:3]) for s in statements if s.lstrip().split()[0] in ("INSERT", "UPDATE", "DELETE")]
    assert writes == ["INSERT INTO call_events"]
    reads_of_the_call = [s for s in statements if s.lstrip().startswith("SELECT") and "calls.call_sid =" in s]
    assert len(reads_of_the_call) == 1

    def filed() -> Call | None:
        session.expire_all()
        call = session.query(Call).filter_by(call_sid=caller.sid).one()
        return call if call.queue_id is not None else None

    call = wait_until(filed, message="the call's queue derived from its events")
    assert (call.queue_id, call.contact_id) == (line["Sales"].id, known.id)
    assert call.ivr_path and call.ivr_path[-1]["node"] == "main"
    caller.hangup()
