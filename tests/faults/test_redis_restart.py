"""Redis stops while a caller waits in the queue and comes back empty (a crash without persistence): every webhook
in between answers valid, safe TwiML (the waiting caller is offered to leave a message), nothing of the call is
lost from the database, and once Redis is back a new call goes end to end to an agent."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest
from sqlalchemy import select

from callcenter.models import Ticket
from callcenter.services import acd, agent_state, calls
from callcenter.services.interactions import agent_identity, conference_name
from callcenter.telephony.twiml import TECHNICAL_DIFFICULTIES
from ivr.flow_twiml import RECORDING_SAVED
from tests.faults.conftest import NUMBER
from tests.realtime.conftest import received
from tests.support.servers import RestartableRedis, wait_until

WAITING = "+14155550111"
LATER = "+14155550122"


@pytest.fixture
def restartable_redis() -> Iterator[RestartableRedis]:
    server = RestartableRedis().start()
    yield server
    server.close()


@pytest.fixture
def app_config(app_config, restartable_redis):
    return {**app_config, "REDIS_URL": restartable_redis.url}


def _answers_after(carrier, index: int) -> list:
    return carrier.webhook_log[index:]


def test_redis_stopped_mid_call_then_started_again(session, factory, console, sim_carrier, redis_client,
                                                    restartable_redis, line):
    alice = factory.user(skills={"sales": 5}, username="alice")
    waiting = sim_carrier.dial(WAITING, NUMBER)
    waiting.wait_for_say("For sales")
    waiting.press("1")
    wait_until(lambda: acd.position(redis_client, waiting.sid) == 1, message="the first caller waiting in Sales")
    wait_until(lambda: any(urlsplit(w.url).path == "/ivr/menu" for w in sim_carrier.webhook_log),
               message="the menu's answer")
    before_stop = len(sim_carrier.webhook_log)

    restartable_redis.stop()

    # The wait loop's next turn meets no Redis: the caller is offered to leave a message instead.
    waiting.wait_for_say("cannot connect you to an agent right now")
    during = _answers_after(sim_carrier, before_stop)
    assert [urlsplit(w.url).path for w in during] == ["/ivr/wait"]
    [wait_turn] = during
    assert wait_turn.status == 200 and wait_turn.latency < 3.0, (wait_turn.status, wait_turn.latency)
    record = ET.fromstring(wait_turn.body).find("Record")
    assert record is not None and record.get("action") == "http://localhost/ivr/voicemail"
    waiting.record(seconds=3, text="Call me back about my order")
    waiting.wait_for_say(RECORDING_SAVED)
    waiting.wait_ended()
    assert TECHNICAL_DIFFICULTIES not in " ".join(waiting.transcript)
    # The message became a ticket, the call ended and its record says so, all without Redis.
    wait_until(lambda: [w for w in sim_carrier.webhook_log if w.params.get("CallStatus") == "completed"],
               message="the carrier's completed status callback")

    def first_record():
        session.expire_all()
        record = calls.get_call(session, waiting.sid)
        return record if record.status == "completed" else None

    first = wait_until(first_record, message="the first call's record to say it completed")
    ticket = session.scalar(select(Ticket).where(Ticket.call_id == first.id))
    assert ticket is not None and ticket.subject.startswith("Voicemail from")
    assert first.status == "completed" and first.queue.name == "Sales" and first.recording_url
    kinds = [e.kind for e in calls.call_events(session, first)]
    assert {"status", "enqueued", "voicemail"} <= set(kinds), kinds
    assert all(w.status in (200, 204) for w in _answers_after(sim_carrier, before_stop))

    # Redis comes back empty on the same socket: nobody is in line any more, and a new caller gets an agent.
    restartable_redis.start()
    assert restartable_redis.client.dbsize() == 0
    assert acd.position(redis_client, waiting.sid) is None
    softphone = sim_carrier.client(agent_identity(alice.id))
    sock = console(alice)
    assert sock.emit("set_state", {"state": "available"}, namespace="/agent", callback=True)["ok"]
    later = sim_carrier.dial(LATER, NUMBER)
    later.wait_for_say("For sales")
    later.press("1")
    offer = wait_until(lambda: received(sock, "offer"), message="the offer to alice")[0]
    assert offer["call_sid"] == later.sid
    sock.emit("offer_ack", {"call_sid": later.sid}, namespace="/agent", callback=True)
    softphone.wait_for_incoming()
    agent_leg = softphone.accept()
    wait_until(lambda: len(getattr(sim_carrier.conference(conference_name(later.sid)), "participants", {}) or {})
               == 2, message="caller and agent in the conference")
    later.hangup()
    wait_until(lambda: agent_state.get_presence(redis_client, alice.id).state == "wrap_up",
               message="alice in wrap-up")
    agent_leg.wait_ended()
    session.expire_all()
    second = calls.get_call(session, later.sid)
    assert (second.status, second.agent_id, second.queue.name) == ("completed", alice.id, "Sales")
