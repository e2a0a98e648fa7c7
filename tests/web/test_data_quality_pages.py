"""The data-quality pages (/contacts/quality): who may open them, the completeness counts, lists and CSV, the
duplicates page and its merge, and the contact import (upload, dry run, all-or-nothing, import, progress)."""

from __future__ import annotations

import csv
import io
from html.parser import HTMLParser

import pytest
from sqlalchemy import func, select

from callcenter.models import AuditEntry, Call, Contact, ListImport


class Marks(HTMLParser):
    """The data-* marks the pages put on their rows, and alerts."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.counts: dict[str, int] = {}
        self.contacts: list[int] = []
        self.groups: list[tuple[str, str]] = []
        self.report: list[tuple[int, str]] = []
        self.links: list[str] = []
        self.alerts = 0
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        values = dict(attrs)
        if tag == "tr" and "data-check" in values:
            self.counts[values["data-check"]] = int(values["data-count"])
        if tag == "tr" and "data-contact" in values:
            self.contacts.append(int(values["data-contact"]))
        if tag == "form" and "data-reason" in values:
            self.groups.append((values["data-reason"], values["data-key"]))
        if tag == "tr" and "data-line" in values:
            self.report.append((int(values["data-line"]), values["data-code"]))
        if tag == "a" and "href" in values:
            self.links.append(values["href"])
        if values.get("role") == "alert":
            self.alerts += 1


@pytest.fixture
def supervisor(factory, auth):
    user = factory.user("supervisor", team="Support")
    auth.login(user.username)
    return user


@pytest.fixture
def admin(factory, auth):
    user = factory.user("admin")
    auth.login(user.username)
    return user


def test_agents_are_refused_and_anonymous_users_go_to_login(client, auth, factory):
    for path in ("/contacts/quality", "/contacts/quality/duplicates", "/contacts/quality/import",
                 "/contacts/quality/completeness/no_number", "/contacts/quality/completeness/no_number.csv"):
        assert client.get(path).status_code == 302, path
    agent = factory.user("agent")
    auth.login(agent.username)
    for path in ("/contacts/quality", "/contacts/quality/duplicates", "/contacts/quality/import"):
        assert client.get(path).status_code == 403, path
    assert client.post("/contacts/quality/merge", data={"survivor_id": "1", "other_id": "2"}).status_code == 403


def test_the_back_office_navigation_links_to_the_page(client, supervisor):
    assert "/contacts/quality" in Marks(client.get("/audit").get_data(as_text=True)).links


def test_completeness_counts_list_and_csv(client, admin, factory, session):
    account = factory.account("Acme")
    factory.contact(phones=("+14155550100",), account_id=account.id)
    lonely = [factory.contact(account_id=account.id) for _ in range(3)]
    factory.contact(phones=("+14155550101",))
    broken = factory.contact(phones=("12345",), account_id=account.id)  # stored before numbers were checked

    marks = Marks(client.get("/contacts/quality").get_data(as_text=True))
    assert marks.counts == {"no_number": 3, "no_account": 1, "bad_number": 1}
    bad = client.get("/contacts/quality/completeness/bad_number")
    assert bad.status_code == 200 and Marks(bad.get_data(as_text=True)).contacts == [broken.id]

    page = client.get("/contacts/quality/completeness/no_number")
    assert page.status_code == 200
    assert Marks(page.get_data(as_text=True)).contacts == [c.id for c in lonely]

    exported = client.get("/contacts/quality/completeness/no_number.csv")
    assert exported.mimetype == "text/csv"
    rows = list(csv.DictReader(io.StringIO(exported.get_data(as_text=True))))
    assert [int(r["contact_id"]) for r in rows] == [c.id for c in lonely]
    assert {r["account"] for r in rows} == {"Acme"}
    assert client.get("/contacts/quality/completeness/everything").status_code == 404


def test_the_duplicates_page_lists_groups_and_merges_the_chosen_contacts(client, admin, factory, session):
    keep = factory.contact(phones=("+14155550100",), first_name="Ada", last_name="Lovelace")
    other = factory.contact(phones=("+14155550100", "+14155550199"), first_name="", last_name="",
                            email="ada@example.com")
    factory.call(contact_id=other.id)
    factory.call(contact_id=keep.id)
    other_id = other.id

    page = client.get("/contacts/quality/duplicates")
    assert ("phone", "+14155550100") in Marks(page.get_data(as_text=True)).groups

    merged = client.post("/contacts/quality/merge", data={"survivor_id": keep.id, "other_id": [keep.id, other_id]})

    assert merged.status_code == 302
    session.expire_all()
    assert session.get(Contact, other_id) is None
    assert session.scalar(select(func.count()).select_from(Call).where(Call.contact_id == keep.id)) == 2
    assert sorted(p.e164 for p in session.get(Contact, keep.id).phones) == ["+14155550100", "+14155550199"]
    assert session.scalar(select(AuditEntry).where(AuditEntry.action == "contact.merged")) is not None
    assert Marks(client.get("/contacts/quality/duplicates").get_data(as_text=True)).groups == []


def test_a_merge_out_of_the_supervisors_scope_is_refused(client, supervisor, factory, session):
    mine = factory.contact(owner_id=supervisor.id)
    theirs = factory.contact()

    answer = client.post("/contacts/quality/merge", data={"survivor_id": mine.id, "other_id": theirs.id},
                         follow_redirects=True)

    assert Marks(answer.get_data(as_text=True)).alerts == 1
    session.expire_all()
    assert session.get(Contact, theirs.id) is not None


CONTACTS = ("name,phone,email,language\n"
            "Ada Lovelace,+44 20 7946 0958,ada@example.com,en\n"
            "Bad Number,12,bad@example.com,\n"
            "Alan Turing,+44 7700 900124,alan@example.com,zh_Hans\n")
MAPPING = {"column": ["name", "phone", "email", "language"], "field_name": "name", "field_phone": "phone",
           "field_email": "email", "field_language": "language"}


def _upload(client, session, text=CONTACTS) -> str:
    uploaded = client.post("/contacts/quality/import", data={"file": (io.BytesIO(text.encode()), "contacts.csv")},
                           content_type="multipart/form-data")
    assert uploaded.status_code == 302
    entry = session.scalar(select(ListImport).order_by(ListImport.id.desc()))
    assert entry.campaign_id is None
    return f"/contacts/quality/import/{entry.id}"


def test_an_all_or_nothing_contact_import_with_a_bad_row_imports_nothing_and_reports_it(client, supervisor,
                                                                                        session):
    url = _upload(client, session)
    before = session.scalar(select(func.count()).select_from(Contact))

    checked = client.post(url, data={**MAPPING, "all_or_nothing": "y", "action": "check"})
    assert Marks(checked.get_data(as_text=True)).report == [(3, "invalid_phone")]
    done = client.post(url, data={**MAPPING, "all_or_nothing": "y", "action": "import"})

    assert done.status_code == 302
    session.expire_all()
    progress = client.get(f"{url}/progress").get_json()
    assert (progress["status"], progress["imported_rows"], progress["rejected_rows"]) == ("done", 0, 1)
    assert session.scalar(select(func.count()).select_from(Contact)) == before
    assert Marks(client.get(url).get_data(as_text=True)).report == [(3, "invalid_phone")]


def test_a_partial_contact_import_writes_the_good_rows(client, supervisor, session):
    url = _upload(client, session)

    done = client.post(url, data={**MAPPING, "action": "import"})  # all-or-nothing unticked

    assert done.status_code == 302
    session.expire_all()
    progress = client.get(f"{url}/progress").get_json()
    assert (progress["processed_rows"], progress["total_rows"], progress["imported_rows"]) == (3, 3, 2)
    imported = session.scalars(select(Contact).where(Contact.owner_id == supervisor.id).order_by(Contact.id)).all()
    assert [(c.full_name, c.language, [p.e164 for p in c.phones]) for c in imported] == [
        ("Ada Lovelace", "en", ["+442079460958"]), ("Alan Turing", "zh_Hans", ["+447700900124"])]
    assert url in Marks(client.get("/contacts/quality/import").get_data(as_text=True)).links


def test_a_mapping_onto_a_campaign_field_is_refused(client, supervisor, session):
    url = _upload(client, session)

    answer = client.post(url, data={**MAPPING, "field_language": "priority", "action": "check"})

    assert answer.status_code == 422
    assert Marks(answer.get_data(as_text=True)).alerts == 1
