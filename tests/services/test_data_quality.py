"""The completeness report: contacts without a number, without an account, with a number that does not parse;
counted and listed a page at a time, within the viewer's scope."""

from __future__ import annotations

import pytest

from callcenter.models import ContactPhone
from callcenter.services import data_quality
from callcenter.services.errors import ValidationFailed


def test_each_check_counts_and_lists_the_contacts_it_finds(session, factory):
    admin = factory.user("admin")
    account = factory.account("Acme")
    complete = factory.contact(phones=("+14155550100",), account_id=account.id)
    no_number = factory.contact(account_id=account.id)
    no_account = factory.contact(phones=("+14155550101",))
    broken = factory.contact(phones=("+14155550102",), account_id=account.id)
    session.add_all([ContactPhone(contact_id=broken.id, e164="12345", raw="12345"),
                     ContactPhone(contact_id=broken.id, e164="+1415", raw="415")])
    session.commit()

    assert data_quality.counts(session, admin) == {"no_number": 1, "no_account": 1, "bad_number": 1}
    found, total = data_quality.findings(session, admin, "no_number")
    assert total == 1 and [f.contact.id for f in found] == [no_number.id]
    found, total = data_quality.findings(session, admin, "no_account")
    assert total == 1 and [f.contact.id for f in found] == [no_account.id]
    found, total = data_quality.findings(session, admin, "bad_number")
    assert total == 1 and [(f.contact.id, f.bad_numbers) for f in found] == [(broken.id, ["12345", "+1415"])]
    assert complete.id not in {f.contact.id for f in found}


def test_the_lists_are_paged(session, factory):
    admin = factory.user("admin")
    made = [factory.contact().id for _ in range(5)]

    first, total = data_quality.findings(session, admin, "no_number", page=1, per_page=2)
    third, _ = data_quality.findings(session, admin, "no_number", page=3, per_page=2)

    assert total == 5
    assert [f.contact.id for f in first] == made[:2] and [f.contact.id for f in third] == made[4:]


def test_an_agent_sees_only_their_contacts_and_an_unknown_check_is_refused(session, factory):
    agent = factory.user("agent")
    factory.contact(owner_id=agent.id)
    factory.contact()

    assert data_quality.counts(session, agent)["no_number"] == 1
    with pytest.raises(ValidationFailed):
        data_quality.findings(session, agent, "everything")
