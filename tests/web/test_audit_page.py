"""The audit log viewer: filters, the viewer's scope, CSV export, and clear errors for unreadable filters."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime

from callcenter.models import AuditEntry


def _log(session, factory):
    ada = factory.user(role="admin", username="ada")
    sam = factory.user(role="supervisor", username="sam", team="North")
    nora = factory.user(username="nora", team="North")
    stan = factory.user(username="stan", team="South")
    entries = [
        AuditEntry(action="contact.updated", actor_id=nora.id, entity_type="Contact", entity_id="7",
                   details={"before": {"email": "a@x.com"}, "after": {"email": "b@x.com"}},
                   occurred_at=datetime(2026, 10, 30, 9, 0, tzinfo=UTC), ip_address="10.0.0.5"),
        AuditEntry(action="call.whisper", actor_id=sam.id, entity_type=None, entity_id=None,
                   details={"call_sid": "CA1"}, occurred_at=datetime(2026, 10, 30, 10, 0, tzinfo=UTC)),
        AuditEntry(action="contact.updated", actor_id=stan.id, entity_type="Contact", entity_id="8",
                   details={}, occurred_at=datetime(2026, 10, 31, 9, 0, tzinfo=UTC)),
        AuditEntry(action="user.created", actor_id=ada.id, entity_type="User", entity_id=str(nora.id),
                   details={}, occurred_at=datetime(2026, 10, 31, 11, 0, tzinfo=UTC)),
    ]
    session.add_all(entries)
    session.commit()


def _actions(response) -> list[str]:
    text = response.get_data(as_text=True)
    return [part.split('"', 1)[0] for part in text.split('data-action="')[1:]]


def test_an_admin_filters_the_whole_log_and_exports_what_is_filtered(client, auth, session, factory):
    _log(session, factory)
    auth.login("ada")

    everything = client.get("/audit")  # newest first: ada's sign-in a moment ago, ..., the fixture's October
    assert everything.status_code == 200
    assert _actions(everything)[0] == "login.succeeded"
    assert _actions(everything)[-4:] == ["user.created", "contact.updated", "call.whisper", "contact.updated"]
    assert _actions(client.get("/audit?action=contact.")) == ["contact.updated", "contact.updated"]
    assert _actions(client.get("/audit?actor=nora")) == ["contact.updated"]
    assert _actions(client.get("/audit?since=2026-10-31&until=2026-10-31")) == ["user.created", "contact.updated"]
    assert _actions(client.get("/audit?entity_type=Contact&entity_id=7")) == ["contact.updated"]

    exported = client.get("/audit.csv?action=contact.&until=2026-10-30")
    assert exported.status_code == 200 and exported.mimetype == "text/csv"
    [row] = list(csv.DictReader(io.StringIO(exported.get_data(as_text=True))))
    assert (row["actor"], row["entity"], row["ip_address"]) == ("nora", "Contact 7", "10.0.0.5")
    assert (row["before"], row["after"]) == ('{"email": "a@x.com"}', '{"email": "b@x.com"}')


def test_a_supervisor_reads_what_their_team_did_and_an_agent_nothing(client, auth, session, factory):
    _log(session, factory)
    auth.login("sam")
    assert _actions(client.get("/audit?until=2026-10-31")) == ["call.whisper", "contact.updated"]
    assert client.get("/audit.csv?until=2026-10-31").get_data(as_text=True).count("\n") == 3  # header, 2 rows
    auth.logout()
    auth.login("nora")
    assert client.get("/audit").status_code == 403
    assert client.get("/audit.csv").status_code == 403


def test_unreadable_filters_are_explained_not_a_500(client, auth, session, factory):
    _log(session, factory)
    auth.login("ada")
    bad_day = client.get("/audit?since=yesterday")
    assert bad_day.status_code == 422 and "YYYY-MM-DD" in bad_day.get_data(as_text=True)
    nobody = client.get("/audit.csv?actor=ghost")
    assert nobody.status_code == 422 and "ghost" in nobody.get_data(as_text=True)
    assert client.get("/audit?page=x").status_code == 200
