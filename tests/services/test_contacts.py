"""Contacts keep numbers in E.164 whatever format was typed, so caller lookup never misses."""

from __future__ import annotations

import pytest

from callcenter.models import AuditEntry
from callcenter.services import contacts
from callcenter.services.contacts import PhoneInput
from callcenter.services.errors import ValidationFailed
from callcenter.services.phones import time_zones, to_e164


@pytest.mark.parametrize(
    "raw", ["(415) 555-0100", "+1 415-555-0100", "415.555.0100", "14155550100", "1 (415) 555-0100", "001 415 555 0100"]
)
def test_common_formats_normalise_to_one_e164(raw):
    assert to_e164(raw, "US") == "+14155550100"


@pytest.mark.parametrize("raw", ["", "hello", "123", "+1 415 555 0100 99999999"])
def test_non_numbers_are_refused_with_the_field_named(raw):
    with pytest.raises(ValidationFailed) as error:
        to_e164(raw, "US", field="phones.0.number")
    assert error.value.field == "phones.0.number"


def test_time_zone_of_a_number():
    assert time_zones("+14155550100") == ["America/Los_Angeles"]


def test_contact_found_by_its_second_number_typed_differently(session, factory):
    agent = factory.user()
    created = contacts.create_contact(
        session, agent, {"first_name": "Dana", "last_name": "Lee"},
        [PhoneInput("(415) 555-0100"), PhoneInput("+44 20 7946 0958", "work")],
    )
    assert [p.e164 for p in created.phones] == ["+14155550100", "+442079460958"]

    assert [c.id for c in contacts.contacts_for_number(session, "+442079460958")] == [created.id]
    found, total = contacts.search_contacts(session, agent, "020 7946 0958", region="GB")
    assert total == 1 and found[0].id == created.id
    assert session.query(AuditEntry).filter_by(action="contact.created", entity_id=str(created.id)).count() == 1


def test_same_number_typed_twice_is_kept_once(session, factory):
    agent = factory.user()
    created = contacts.create_contact(session, agent, {"last_name": "Dup"},
                                      [PhoneInput("415-555-0100"), PhoneInput("+14155550100")])
    assert len(created.phones) == 1


def test_update_replaces_phone_list_and_keeps_unchanged_rows(session, factory):
    agent = factory.user()
    created = contacts.create_contact(session, agent, {"last_name": "Keep"},
                                      [PhoneInput("415-555-0100"), PhoneInput("415-555-0101")])
    kept_id = created.phones[0].id
    updated = contacts.update_contact(session, agent, created.id, {},
                                      [PhoneInput("(415) 555-0100"), PhoneInput("415-555-0199")])
    assert sorted(p.e164 for p in updated.phones) == ["+14155550100", "+14155550199"]
    assert kept_id in {p.id for p in updated.phones}


def test_invalid_email_and_unknown_account_are_refused(session, factory):
    agent = factory.user()
    with pytest.raises(ValidationFailed) as error:
        contacts.create_contact(session, agent, {"last_name": "X", "email": "nope"}, [])
    assert error.value.field == "email"
    with pytest.raises(ValidationFailed) as error:
        contacts.create_contact(session, agent, {"last_name": "X", "account_id": 999}, [])
    assert error.value.field == "account_id"
