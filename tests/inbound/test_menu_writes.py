"""The menu webhook that queues a caller writes the call's events and nothing else: the call's queue, contact and
language follow from those events by derivation, in the worker, after the caller has their answer. It reads no
row either: the call's walk through the menus is kept in Redis, and read from the events only when Redis has lost
it."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from callcenter.models import Call
from callcenter.services import acd, caller_steps
from callcenter.services.ivr_flows import BILINGUAL_NUMBER, ensure_bilingual_flow
from tests.inbound.conftest import NUMBER
from tests.support.servers import wait_until
from tests.support.sql import webhook_statements

KNOWN = "+14155550122"


@pytest.fixture
def app_config(app_config):
    app_config.update(SIM_PHONE_NUMBERS=[NUMBER, BILINGUAL_NUMBER])
    return app_config


def _reads_of_the_call(statements: list[str]) -> list[str]:
    return [s for s in statements if s.lstrip().startswith("SELECT") and "calls.call_sid =" in s]


def test_queueing_a_caller_writes_one_insert_of_events_and_derivation_files_the_queue_and_contact(
        session, factory, sim_carrier, redis_client, line, monkeypatch):
    known = factory.contact(phones=(KNOWN,), first_name="Known")
    caller = sim_carrier.dial(KNOWN, NUMBER)
    caller.wait_for_say("For sales")

    statements = webhook_statements(lambda: (caller.press("1"), wait_until(
        lambda: acd.get_entry(redis_client, caller.sid) is not None, message="caller queued")), monkeypatch)

    writes = [" ".join(s.split()[:3]) for s in statements if s.lstrip().split()[0] in ("INSERT", "UPDATE", "DELETE")]
    assert writes == ["INSERT INTO call_events"]
    assert _reads_of_the_call(statements) == []  # the greeting's job kept the call's walk in Redis

    def filed() -> Call | None:
        session.expire_all()
        call = session.query(Call).filter_by(call_sid=caller.sid).one()
        return call if call.queue_id is not None else None

    call = wait_until(filed, message="the call's queue derived from its events")
    assert (call.queue_id, call.contact_id) == (line["Sales"].id, known.id)
    assert call.ivr_path and call.ivr_path[-1]["node"] == "main"
    caller.hangup()


@pytest.mark.parametrize("walk", ["kept", "lost"])
def test_the_walk_through_two_menus_reaches_the_queue_with_its_path_and_language_with_or_without_redis_copy(
        session, factory, sim_carrier, redis_client, line, monkeypatch, walk):
    """The bilingual line: 2 (中文), then 1 (sales). The ACD entry gets both answers in order and the chosen
    language, whether the menus read the walk from Redis or, once it is lost, from the call's events."""
    ensure_bilingual_flow(session)
    session.commit()
    caller = sim_carrier.dial(KNOWN, BILINGUAL_NUMBER)
    caller.wait_for_say("中文服务请按2")
    if walk == "lost":
        redis_client.delete(caller_steps._walk_key(caller.sid))
    else:
        assert redis_client.hget(caller_steps._walk_key(caller.sid), "id") is not None

    def answer_both() -> None:
        caller.press("2")
        caller.wait_for_say("销售请按1")
        caller.press("1")
        wait_until(lambda: acd.get_entry(redis_client, caller.sid), message="caller queued")

    statements = webhook_statements(answer_both, monkeypatch)

    entry = acd.get_entry(redis_client, caller.sid)
    assert [step["node"] for step in entry.payload["ivr_path"]] == ["language", "main_zh"]
    assert entry.language == "zh_Hans"
    assert len(_reads_of_the_call(statements)) == (2 if walk == "lost" else 0)
    caller.hangup()


def test_a_retried_menu_answer_is_one_step_of_the_walk(session, sim_carrier, redis_client, line):
    """The carrier may send a menu answer twice: the walk, like the events, keeps it once."""
    caller = sim_carrier.dial(KNOWN, NUMBER)
    caller.wait_for_say("For sales")
    step = {"node": "main", "via": "digits", "digits": "9"}
    answered = datetime.now(UTC)
    for _ in range(2):
        so_far = caller_steps._walk_so_far(session, redis_client, caller.sid, step, 1, answered)
        assert so_far.call is not None and so_far.call.ivr_path == []
    again = caller_steps._walk_so_far(session, redis_client, caller.sid, None, 1, answered)
    assert again.call.ivr_path == [step]
    caller.hangup()
