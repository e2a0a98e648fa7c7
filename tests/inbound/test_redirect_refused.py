"""The agent answered, and the carrier refused to redirect the waiting caller into the agent's conference (or the
caller's wait turn crossed the redirect): the caller's next wait turn joins them to it, where it used to play
the hold music again, turn after turn, while their agent waited in the conference."""

from __future__ import annotations

from sqlalchemy import func, select

from callcenter.models import Recording
from callcenter.services.interactions import agent_identity, conference_name
from callcenter.telephony.base import TelephonyError
from callcenter.telephony.twilio_provider import TwilioProvider
from tests.inbound.test_inbound_calls import _answer, _available, _dana_with_a_technical_problem, _wait_for_event
from tests.support.servers import wait_until


def test_a_caller_whose_redirect_was_refused_joins_the_agent_at_the_next_wait_turn(
        session, factory, console, sim_carrier, redis_client, line, monkeypatch):
    line["Support"].recording_policy = "all"
    session.commit()
    refused: list[str] = []

    def refuse(self, call_sid: str, **_kwargs):
        refused.append(call_sid)
        raise TelephonyError("Redirecting the call failed: HTTP 503", status=503)

    monkeypatch.setattr(TwilioProvider, "redirect_call", refuse)
    alice = factory.user(skills={"support": 5}, username="alice")
    softphone = sim_carrier.client(agent_identity(alice.id))
    sock = _available(console, alice)

    caller = _dana_with_a_technical_problem(sim_carrier)
    [offer] = _wait_for_event(sock, "offer")
    _answer(sock, softphone, offer)

    wait_until(lambda: refused == [caller.sid], message="the carrier refused the redirect")
    wait_until(lambda: len(getattr(sim_carrier.conference(conference_name(caller.sid)), "participants", {}) or {})
               == 2, message="the caller joined the agent at the next wait turn")
    assert caller.status == "in-progress"
    recording = wait_until(lambda: session.scalar(select(Recording)), message="the recording started as they joined")
    assert (recording.call_sid, recording.agent_id, recording.trigger) == (caller.sid, alice.id, "all")

    caller.hangup()
    session.expire_all()
    assert session.scalar(select(func.count()).select_from(Recording)) == 1
