"""Contact import through the generic CSV pipeline: mapping of contact fields, numbers to E.164 (two per row),
language and e-mail checks, existing numbers skipped, and all-or-nothing vs partial imports."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from callcenter.models import Account, Contact, ContactPhone, ListImport
from callcenter.redis_conn import get_redis
from callcenter.services import contact_import, csv_import
from callcenter.services.errors import ValidationFailed

GOOD_AND_BAD = """\
Name,Phone,Other phone,E-mail,Company,Language
Ada Lovelace,020 7946 0958,+44 7700 900123,ada@example.com,Analytical,en
王小明,+86 138 0013 8000,,wang@example.cn,上海贸易,zh_Hans
Bad Number,not a number,,bad@example.com,,
Bad Mail,020 7946 0959,,no-at-sign,,
Bad Language,020 7946 0960,,,,klingon
No Phone,,,nophone@example.com,,
Bad Second,020 7946 0961,12,,,
"""
MAPPING = {"Name": "name", "Phone": "phone", "Other phone": "phone2", "E-mail": "email", "Company": "account",
           "Language": "language"}
BAD_LINES = {(4, "invalid_phone"), (5, "invalid_email"), (6, "invalid_language"), (7, "missing_phone"),
             (8, "invalid_phone")}


@pytest.fixture
def admin(factory):
    return factory.user("admin")


@pytest.fixture
def r(app):
    return get_redis(app)


def upload(session, r, admin, text, mapping=MAPPING, all_or_nothing=True) -> ListImport:
    entry = contact_import.upload(session, r, admin, filename="contacts.csv", text=text)
    return csv_import.configure(session, entry, mapping=mapping, all_or_nothing=all_or_nothing)


def count_contacts(session) -> int:
    session.expire_all()
    return session.scalar(select(func.count()).select_from(Contact))


def test_the_mapping_is_guessed_from_a_contact_header(session, r, admin):
    entry = contact_import.upload(session, r, admin, filename="c.csv", text=GOOD_AND_BAD)

    assert entry.campaign_id is None
    assert entry.mapping == {"Name": "name", "Phone": "phone", "Other phone": "phone2", "E-mail": "email",
                             "Company": "account", "Language": "language"}


def test_a_campaign_only_field_is_not_a_contact_field(session, r, admin):
    entry = contact_import.upload(session, r, admin, filename="c.csv", text=GOOD_AND_BAD)
    header, _rows = csv_import.read_rows(GOOD_AND_BAD)

    with pytest.raises(ValidationFailed) as refused:
        csv_import.check_mapping(header, {**MAPPING, "Company": "priority"}, contact_import.target_of(entry).fields)
    assert refused.value.field == "mapping"


def test_all_or_nothing_import_with_bad_rows_reports_each_row_and_imports_nothing(session, r, admin):
    before = count_contacts(session)
    entry = upload(session, r, admin, GOOD_AND_BAD, all_or_nothing=True)

    done = contact_import.run(session, r, entry.id, region="GB")

    assert done.status == "done"
    assert done.imported_rows == 0
    assert done.rejected_rows == 5
    assert {(e["line"], e["code"]) for e in done.report} == BAD_LINES
    assert all(e["status"] == "rejected" and e["message"] for e in done.report)
    assert count_contacts(session) == before
    assert session.scalar(select(func.count()).select_from(Account)) == 0


def test_a_partial_import_writes_the_good_rows_and_reports_the_bad(session, r, admin):
    entry = upload(session, r, admin, GOOD_AND_BAD, all_or_nothing=False)

    done = contact_import.run(session, r, entry.id, region="GB")

    assert (done.imported_rows, done.rejected_rows) == (2, 5)
    assert {(e["line"], e["code"]) for e in done.report} == BAD_LINES
    session.expire_all()
    ada = session.scalar(select(Contact).where(Contact.email == "ada@example.com"))
    assert ada.full_name == "Ada Lovelace" and ada.language == "en" and ada.owner_id == admin.id
    assert [p.e164 for p in ada.phones] == ["+442079460958", "+447700900123"]
    assert ada.account.name == "Analytical"
    wang = session.scalar(select(Contact).where(Contact.email == "wang@example.cn"))
    assert wang.display_name == "王小明" and wang.language == "zh_Hans"
    assert [p.e164 for p in wang.phones] == ["+8613800138000"]


def test_a_number_a_contact_already_has_is_skipped_not_duplicated(session, r, admin, factory):
    factory.contact(phones=("+442079460958",), last_name="Existing")
    session.commit()
    text = "Name,Phone\nAda,020 7946 0958\nAlan,07700 900124\nAlan again,+44 7700 900124\n"
    entry = upload(session, r, admin, text, mapping={"Name": "name", "Phone": "phone"})

    done = contact_import.run(session, r, entry.id, region="GB")

    assert {(e["line"], e["code"], e["status"]) for e in done.report} == {
        (2, "already_a_contact", "skipped"), (4, "duplicate_in_file", "skipped")}
    assert done.imported_rows == 1
    assert session.scalar(select(func.count()).select_from(ContactPhone)
                          .where(ContactPhone.e164 == "+442079460958")) == 1


def test_the_import_job_writes_the_contacts_and_a_run_again_writes_nothing_twice(session, r, admin):
    text = "Name,Phone\nAda,+44 20 7946 0958\nAlan,+44 7700 900124\n"
    entry = upload(session, r, admin, text, mapping={"Name": "name", "Phone": "phone"})
    before = count_contacts(session)

    csv_import.queue_import(session, entry)  # the worker's job runs inline in tests
    session.expire_all()
    done = session.get(ListImport, entry.id)
    assert (done.status, done.processed_rows, done.imported_rows) == ("done", 2, 2)
    assert count_contacts(session) == before + 2

    again = contact_import.run(session, r, entry.id, region="GB")

    assert again.status == "done" and again.imported_rows == 2
    assert count_contacts(session) == before + 2
