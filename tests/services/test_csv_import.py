"""The CSV import engine on a campaign's list: mapping, E.164 with the list's region, duplicates, DNC, every bad
row reported, all-or-nothing and partial modes, and a job run twice importing each row once."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from callcenter.models import CampaignContact, Contact, DoNotCall, ListImport
from callcenter.redis_conn import get_redis
from callcenter.services import campaign_lists, campaigns, csv_import
from callcenter.services.errors import ValidationFailed

GOOD_AND_BAD = """\
Phone,First name,Last name,Plan,Priority
020 7946 0958,Ada,Lovelace,gold,5
07700 900123,Alan,Turing,silver,
not a number,Bad,Row,bronze,
+44 20 7946 0958,Ada,Again,gold,
,No,Phone,,
07700 900124,Grace,Hopper,silver,high
"""
MAPPING = {"Phone": "phone", "First name": "first_name", "Last name": "last_name", "Plan": "custom:plan",
           "Priority": "priority"}


@pytest.fixture
def admin(factory):
    return factory.user("admin")


@pytest.fixture
def campaign(session, admin):
    return campaigns.create_campaign(session, admin, {"name": "UK winback", "default_region": "GB"},
                                     allowed_caller_ids=[])


@pytest.fixture
def r(app):
    return get_redis(app)


def leads(session, campaign):
    session.expire_all()
    return list(session.scalars(select(CampaignContact).where(CampaignContact.campaign_id == campaign.id)
                                .order_by(CampaignContact.id)))


def upload(session, r, admin, campaign, text, mapping=MAPPING, all_or_nothing=True):
    return csv_import.create_import(session, r, admin, campaign_id=campaign.id, filename="list.csv", text=text,
                                    mapping=mapping, all_or_nothing=all_or_nothing)


def run(session, r, entry, campaign):
    return csv_import.run_import(session, r, entry.id, campaign_lists.CampaignList(campaign.id),
                                 region=campaign.default_region)


def by_line(report):
    return {(e["line"], e["code"]) for e in report}


def test_the_header_suggests_a_mapping():
    header, _ = csv_import.read_rows("Mobile,First Name,Surname,Contract no\n1,2,3,4\n")
    assert csv_import.guess_mapping(header) == {"Mobile": "phone", "First Name": "first_name",
                                                "Surname": "last_name", "Contract no": "custom:Contract no"}


@pytest.mark.parametrize(("mapping", "text"), [
    ({"Phone": "first_name"}, "Map one column to the phone number"),
    ({"Phone": "phone", "Plan": "shoe_size"}, "'shoe_size' is not a field"),
    ({"Phone": "phone", "Nope": "email"}, "no column 'Nope'"),
    ({"Phone": "phone", "First name": "email", "Last name": "email"}, "both map to email"),
    ({"Phone": "phone", "Plan": "custom:"}, "custom field needs a name"),
])
def test_a_bad_mapping_is_refused(mapping, text):
    header, _ = csv_import.read_rows(GOOD_AND_BAD)
    with pytest.raises(ValidationFailed, match=text) as refused:
        csv_import.check_mapping(header, mapping)
    assert refused.value.field == "mapping"


def test_dry_run_reports_every_bad_row_and_writes_nothing(session, r, admin, campaign, factory):
    session.add(DoNotCall(phone_e164="+447700900123", source="internal"))
    session.commit()
    entry = upload(session, r, admin, campaign, GOOD_AND_BAD)

    result = csv_import.dry_run(session, r, entry, campaign_lists.CampaignList(campaign.id), region="GB")

    assert [row.phone for row in result.rows][:2] == ["+442079460958", "+447700900123"]  # GB national numbers
    assert by_line(result.report) == {(3, "do_not_call"), (4, "invalid_phone"), (5, "duplicate_in_file"),
                                      (6, "missing_phone"), (7, "invalid_priority")}
    assert next(e for e in result.report if e["line"] == 5)["message"] == "The same number as line 2"
    assert (result.rejected, result.would_import(True), result.would_import(False)) == (3, 0, 2)
    assert leads(session, campaign) == []


def test_all_or_nothing_imports_nothing_and_says_why(session, r, admin, campaign):
    entry = upload(session, r, admin, campaign, GOOD_AND_BAD)
    csv_import.queue_import(session, entry)  # runs inline in tests, as a worker would

    session.expire_all()
    done = session.get(ListImport, entry.id)
    assert (done.status, done.imported_rows, done.rejected_rows, done.processed_rows) == ("done", 0, 3, 6)
    assert {(e["line"], e["status"]) for e in done.report if e["status"] == "rejected"} == {
        (4, "rejected"), (6, "rejected"), (7, "rejected")}
    assert leads(session, campaign) == []
    assert session.scalar(select(func.count()).select_from(Contact)) == 0


def test_partial_mode_imports_the_good_rows(session, r, admin, campaign, factory):
    known = factory.contact(phones=("+447700900123",), first_name="Alan", last_name="Known")
    session.add(DoNotCall(phone_e164="+442079460958", source="imported"))
    session.commit()
    entry = upload(session, r, admin, campaign, GOOD_AND_BAD, all_or_nothing=False)

    done = run(session, r, entry, campaign)

    assert (done.status, done.imported_rows, done.rejected_rows) == ("done", 2, 3)
    ada, alan = leads(session, campaign)
    assert (ada.phone_e164, ada.status, ada.priority, ada.custom_fields) == ("+442079460958", "blocked", 5,
                                                                            {"plan": "gold"})
    assert (alan.contact_id, alan.status, alan.import_id) == (known.id, "pending", entry.id)
    new_contact = session.get(Contact, ada.contact_id)
    assert (new_contact.first_name, new_contact.last_name) == ("Ada", "Lovelace")
    assert r.get(csv_import.file_key(entry.id)) is None


def test_numbers_already_in_the_campaign_are_skipped(session, r, admin, campaign):
    first = upload(session, r, admin, campaign, "phone\n07700 900123\n", mapping={"phone": "phone"})
    run(session, r, first, campaign)
    second = upload(session, r, admin, campaign, "phone\n+447700900123\n07700 900125\n", mapping={"phone": "phone"})

    done = run(session, r, second, campaign)

    assert by_line(done.report) == {(2, "already_present")}
    assert done.imported_rows == 1
    assert [lead.phone_e164 for lead in leads(session, campaign)] == ["+447700900123", "+447700900125"]


def test_a_job_run_again_creates_no_duplicates(session, r, admin, campaign):
    entry = upload(session, r, admin, campaign, "phone,custom:note\n07700 900123,a\n07700 900124,b\n",
                   mapping={"phone": "phone", "custom:note": "custom:note"})
    run(session, r, entry, campaign)
    # A retry of the same job after it finished, and one that finds the import "running" again (a worker killed
    # after its commit but before RQ recorded the job as done).
    run(session, r, entry, campaign)
    csv_import.stash_file(r, entry.id, "phone,custom:note\n07700 900123,a\n07700 900124,b\n")
    session.get(ListImport, entry.id).status = "running"
    session.commit()
    again = run(session, r, entry, campaign)

    assert again.imported_rows == 2
    assert again.report == []
    assert len(leads(session, campaign)) == 2


def test_consent_and_email_are_read(session, r, admin, campaign):
    text = "phone,consent,email\n07700 900123,yes,ADA@EXAMPLE.COM\n07700 900124,2026-03-01,\n07700 900125,perhaps,\n"
    entry = upload(session, r, admin, campaign, text,
                   mapping={"phone": "phone", "consent": "consent", "email": "email"}, all_or_nothing=False)
    done = run(session, r, entry, campaign)
    assert by_line(done.report) == {(4, "invalid_consent")}
    first, second = leads(session, campaign)
    assert first.consent_at is not None and second.consent_at.date().isoformat() == "2026-03-01"
    assert session.get(Contact, first.contact_id).email == "ada@example.com"


def test_an_expired_file_fails_the_import(session, r, admin, campaign):
    entry = upload(session, r, admin, campaign, "phone\n07700 900123\n", mapping={"phone": "phone"})
    r.delete(csv_import.file_key(entry.id))
    done = run(session, r, entry, campaign)
    assert done.status == "failed"
    assert "upload it again" in done.report[0]["message"]
    assert leads(session, campaign) == []
