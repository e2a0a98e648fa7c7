"""A caller chooses their language on the bilingual line: they hear it, the call keeps it, the pop shows it, and
only an agent who speaks it is offered the call (an English-only floor still answers everyone)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from callcenter.models import User
from callcenter.services import acd, calls, contacts
from callcenter.services.business_hours import DAYS
from callcenter.services.contacts import PhoneInput
from callcenter.services.interactions import agent_identity
from callcenter.services.ivr_flows import BILINGUAL_NUMBER, ensure_bilingual_flow
from tests.inbound.conftest import NUMBER
from tests.realtime.conftest import received
from tests.support.servers import wait_until

CHINESE = "language:zh_Hans"
WANG = "+8613800138000"


@pytest.fixture
def app_config(app_config):
    app_config.update(SIM_PHONE_NUMBERS=[NUMBER, BILINGUAL_NUMBER])
    return app_config


@pytest.fixture
def bilingual_line(session, line):
    """The demo queues, the main line and the bilingual line (1 English, 2 中文, then 1 sales in either)."""
    ensure_bilingual_flow(session)
    session.commit()
    return line


def _available(console, user: User):
    sock = console(user)
    assert sock.emit("set_state", {"state": "available"}, namespace="/agent", callback=True)["ok"]
    return sock


def _offers(sock) -> list[dict]:
    found: list[dict] = []

    def check():
        found.extend(received(sock, "offer"))
        return found

    return wait_until(check, message="an offer on the agent's socket")


def test_chinese_caller_hears_chinese_and_is_offered_only_to_a_chinese_speaking_agent(
        session, factory, console, sim_carrier, redis_client, bilingual_line):
    alice = factory.user(skills={"sales": 5}, username="alice")
    mei = factory.user(skills={"sales": 5, CHINESE: 7}, username="mei")
    wang = contacts.create_contact(session, factory.user(role="admin"), {"last_name": "王", "first_name": "小明"},
                                   [PhoneInput("138 0013 8000", region="CN")])
    alice_sock = _available(console, alice)  # alice has waited longest: she would be offered any call she may take
    mei_sock = _available(console, mei)

    caller = sim_carrier.dial(WANG, BILINGUAL_NUMBER)
    assert caller.wait_for_say("For English, press 1")["language"] == "en-US"
    assert caller.wait_for_say("中文服务请按2")["language"] == "zh-CN"
    caller.press("2")
    menu = caller.wait_for_say("销售请按1")
    assert (menu["language"], menu["voice"]) == ("zh-CN", None)
    caller.press("1")

    [offer] = _offers(mei_sock)
    pop = offer["pop"]
    assert pop["caller_language"] == "zh_Hans"
    assert (pop["contact"]["id"], pop["contact"]["name"], pop["from"]) == (wang.id, "王小明", WANG)
    assert pop["queue"] == "Sales"
    assert received(alice_sock, "offer") == []

    def recorded():  # the menu webhook commits the call's changes once the ACD has made the offer
        session.expire_all()
        found = calls.get_call(session, caller.sid)
        return found if found.contact_id is not None else None

    record = wait_until(recorded, message="the call's record of the menu choice")
    assert record.language == "zh_Hans" and record.contact_id == wang.id
    assert record.ivr_path[0] == {"node": "language", "input": "2", "via": "dtmf", "language": "zh-CN"}
    assert acd.get_entry(redis_client, caller.sid).language == "zh_Hans"
    caller.hangup()


def test_a_waiting_chinese_caller_hears_the_wait_and_the_callback_confirmation_in_chinese(
        session, factory, console, sim_carrier, redis_client, bilingual_line):
    alice = factory.user(skills={"sales": 5}, username="alice")
    mei = factory.user(skills={"sales": 5, CHINESE: 7}, username="mei")
    alice_sock = _available(console, alice)  # free, but she does not speak Chinese

    caller = sim_carrier.dial(WANG, BILINGUAL_NUMBER)
    caller.press("2")
    caller.wait_for_say("销售请按1")
    caller.press("1")
    announcement = caller.wait_for_say("下一位就是您")
    assert announcement["language"] == "zh-CN"
    assert caller.wait_for_say("请随时按星号键")["language"] == "zh-CN"
    caller.press("*")
    confirmed = caller.wait_for_say("您的排队位置将为您保留")
    assert confirmed["language"] == "zh-CN"
    caller.wait_ended()
    assert received(alice_sock, "offer") == []

    # The callback keeps the caller's language: it waits for someone who speaks it.
    entry = acd.get_entry(redis_client, f"cb-{caller.sid}")
    assert entry is not None and entry.callback and entry.language == "zh_Hans"
    sim_carrier.phone(WANG, answer="auto", ring_seconds=0.2)
    sim_carrier.client(agent_identity(mei.id))
    mei_sock = _available(console, mei)
    [offer] = _offers(mei_sock)
    assert offer["callback"] is True and offer["pop"]["caller_language"] == "zh_Hans"
    assert received(alice_sock, "offer") == []



def test_a_chinese_caller_choosing_a_closed_queue_hears_when_it_opens_in_chinese(
        session, sim_carrier, bilingual_line):
    # Sales opens only at 09:00 UTC the day after tomorrow: closed now, and the sentence names that weekday.
    opens = datetime.now(UTC).date() + timedelta(days=2)
    sales = bilingual_line["Sales"]
    sales.time_zone = "UTC"
    sales.business_hours = {DAYS[opens.weekday()]: [["09:00", "10:00"]]}
    session.commit()
    weekday = "星期" + "一二三四五六日"[opens.weekday()]

    caller = sim_carrier.dial(WANG, BILINGUAL_NUMBER)
    caller.press("2")
    caller.wait_for_say("销售请按1")
    caller.press("1")
    closed = caller.wait_for_say("我们目前不在服务时间")
    assert closed["text"] == f"我们目前不在服务时间。我们将于{weekday}上午9时开始营业。"
    assert closed["language"] == "zh-CN"
    caller.hangup()

    english = sim_carrier.dial("+14155550123", BILINGUAL_NUMBER)
    english.press("1")
    english.wait_for_say("For sales, press 1")
    english.press("1")
    said = english.wait_for_say("We are closed at the moment.")
    assert said["text"] == f"We are closed at the moment. We open {opens.strftime('%A')} at 9 AM."
    english.hangup()



def test_a_closed_bilingual_line_says_when_it_opens_in_each_language_of_its_greeting(
        session, sim_carrier, bilingual_line):
    opens = datetime.now(UTC).date() + timedelta(days=2)
    support = bilingual_line["Support"]  # the bilingual line's hours queue
    support.time_zone = "UTC"
    support.business_hours = {DAYS[opens.weekday()]: [["14:30", "16:00"]]}
    session.commit()
    weekday = "星期" + "一二三四五六日"[opens.weekday()]

    caller = sim_carrier.dial(WANG, BILINGUAL_NUMBER)
    english = caller.wait_for_say("Our office is closed right now.")
    assert english["text"] == f"Our office is closed right now. We open {opens.strftime('%A')} at 2:30 PM."
    assert english["language"] == "en-US"
    chinese = caller.wait_for_say("我们将于")
    assert chinese["text"] == f"我们现在已下班。我们将于{weekday}下午2:30开始营业。"
    assert (chinese["language"], chinese["voice"]) == ("zh-CN", None)
    caller.hangup()


def test_english_caller_still_reaches_an_agent_without_language_skills(
        session, factory, console, sim_carrier, redis_client, bilingual_line):
    alice = factory.user(skills={"sales": 5}, username="alice")
    factory.user(skills={"sales": 5, CHINESE: 7}, username="mei")  # the floor has Chinese, but mei is away
    alice_sock = _available(console, alice)

    caller = sim_carrier.dial("+14155550111", BILINGUAL_NUMBER)
    caller.wait_for_say("For English, press 1")
    caller.press("1")
    assert caller.wait_for_say("For sales, press 1")["language"] == "en-US"
    caller.press("1")

    [offer] = _offers(alice_sock)
    assert offer["pop"]["caller_language"] == "en"
    session.expire_all()
    assert calls.get_call(session, caller.sid).language == "en"
    caller.hangup()


def test_a_floor_without_the_language_skill_answers_chinese_callers_too(
        session, factory, console, sim_carrier, redis_client, bilingual_line):
    alice = factory.user(skills={"sales": 5}, username="alice")
    alice_sock = _available(console, alice)

    caller = sim_carrier.dial(WANG, BILINGUAL_NUMBER)
    caller.press("2")
    caller.wait_for_say("销售请按1")
    caller.press("1")

    [offer] = _offers(alice_sock)
    assert offer["pop"]["caller_language"] == "zh_Hans"
    caller.hangup()


def test_a_caller_on_a_single_language_line_has_no_language_and_routes_as_before(
        session, factory, console, sim_carrier, redis_client, bilingual_line):
    factory.user(skills={"sales": 5, CHINESE: 7}, username="mei")
    alice = factory.user(skills={"sales": 5}, username="alice")
    alice_sock = _available(console, alice)

    caller = sim_carrier.dial("+14155550111", NUMBER)
    caller.wait_for_say("For sales, press 1")
    caller.press("1")

    [offer] = _offers(alice_sock)
    assert offer["pop"]["caller_language"] is None
    session.expire_all()
    assert calls.get_call(session, caller.sid).language is None
    caller.hangup()


def test_an_agent_dials_a_mainland_number_typed_any_way_and_it_goes_out_in_e164(session, factory, sim_carrier):
    alice = factory.user(username="alice")
    wang = contacts.create_contact(session, alice, {"last_name": "王", "first_name": "小明"},
                                   [PhoneInput("138 0013 8000", region="CN")])
    sim_carrier.phone(WANG, answer="auto", ring_seconds=0.2)
    softphone = sim_carrier.client(agent_identity(alice.id))

    leg = softphone.connect({"To": "0086 138-0013-8000", "CallerId": NUMBER})

    wait_until(lambda: any(c.direction == "outbound-dial" and c.to == WANG and c.answered
                           for c in sim_carrier.calls.values()),
               message="the mainland phone answered")
    session.expire_all()
    record = calls.get_call(session, leg.sid)
    assert (record.to_number, record.contact_id) == (WANG, wang.id)
    leg.hangup()
