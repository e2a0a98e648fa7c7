"""Chinese mainland numbers and Chinese names: stored in E.164, found by the caller lookup, shown and searched
as they are written (family name first, no space), on both database backends."""

from __future__ import annotations

import pytest

from callcenter.models import Contact
from callcenter.services import contacts
from callcenter.services.contacts import PhoneInput
from callcenter.services.phones import display, time_zones, to_e164, try_e164
from callcenter.services.screen_pop import build_screen_pop


@pytest.mark.parametrize("raw,region,e164", [
    ("138 0013 8000", "CN", "+8613800138000"),  # mobile, national format
    ("13800138000", "CN", "+8613800138000"),
    ("+86 138 0013 8000", "US", "+8613800138000"),  # international format parses in any region
    ("0086 138 0013 8000", "US", "+8613800138000"),  # the international prefix of most of the world
    ("010-6552 9988", "CN", "+861065529988"),  # Beijing landline with its trunk prefix
    ("(010) 6552-9988", "CN", "+861065529988"),
    ("021 6210 0000", "CN", "+862162100000"),  # Shanghai
    ("+86 10 6552 9988", "GB", "+861065529988"),
])
def test_mainland_numbers_normalise_to_e164(raw, region, e164):
    assert to_e164(raw, region) == e164


def test_mainland_numbers_display_and_live_in_china():
    assert display("+8613800138000") == "+86 138 0013 8000"
    assert display("+861065529988") == "+86 10 6552 9988"
    assert time_zones("+8613800138000") == ["Asia/Shanghai"]


def test_a_national_chinese_number_saved_on_a_contact_is_found_from_the_carriers_e164(session, factory):
    agent = factory.user()
    wang = contacts.create_contact(session, agent, {"last_name": "王", "first_name": "小明"},
                                   [PhoneInput("138 0013 8000", region="CN"), PhoneInput("010-6552 9988", "work",
                                                                                         region="CN")])
    assert [p.e164 for p in wang.phones] == ["+8613800138000", "+861065529988"]

    # The carrier sends E.164; the pop finds the contact by either number.
    pop = build_screen_pop(session, call_sid="CA1", from_number="+861065529988", caller_language="zh_Hans")
    assert pop["contact"]["id"] == wang.id and pop["contact"]["name"] == "王小明"
    assert pop["from_display"] == "+86 10 6552 9988" and pop["caller_language"] == "zh_Hans"
    assert [c.id for c in contacts.contacts_for_number(session, try_e164("+86 138 0013 8000"))] == [wang.id]


def test_a_server_in_china_reads_national_numbers_without_a_region_per_number(session, factory):
    agent = factory.user()
    li = contacts.create_contact(session, agent, {"full_name": "李华"}, [PhoneInput("010 6552 9988")], region="CN")
    assert li.phones[0].e164 == "+861065529988"
    found, total = contacts.search_contacts(session, agent, "010-6552-9988", region="CN")
    assert total == 1 and found[0].id == li.id


@pytest.mark.parametrize("first,last,full,shown", [
    ("小明", "王", "", "王小明"),  # Chinese: family name first, no space
    ("Ming", "Wang", "", "Ming Wang"),
    ("", "", "欧阳娜娜", "欧阳娜娜"),  # one piece, shown as it is
    ("Dana", "Lee", "Lee Dana", "Lee Dana"),
    ("さくら", "山田", "", "山田さくら"),
])
def test_names_display_in_the_order_their_script_writes_them(first, last, full, shown):
    assert Contact(first_name=first, last_name=last, full_name=full).display_name == shown


@pytest.mark.parametrize("query", ["王小明", "小明", "王", "欧阳", "娜娜", "Wang", "wang xiao"])
def test_search_finds_contacts_by_chinese_name(session, factory, query):
    agent = factory.user()
    wang = contacts.create_contact(session, agent, {"last_name": "王", "first_name": "小明"},
                                   [PhoneInput("+86 138 0013 8000")])
    ouyang = contacts.create_contact(session, agent, {"full_name": "欧阳娜娜"}, [])
    latin = contacts.create_contact(session, agent, {"first_name": "Xiao", "last_name": "Wang", "full_name":
                                                     "Wang Xiao"}, [])
    contacts.create_contact(session, agent, {"first_name": "Dana", "last_name": "Lee"}, [])

    found, total = contacts.search_contacts(session, agent, query)

    expected = {"王小明": {wang.id}, "小明": {wang.id}, "王": {wang.id}, "欧阳": {ouyang.id},
                "娜娜": {ouyang.id}, "Wang": {latin.id}, "wang xiao": {latin.id}}[query]
    assert {c.id for c in found} == expected and total == len(expected)
