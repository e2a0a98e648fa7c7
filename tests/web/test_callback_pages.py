"""The callbacks pages: the list in scope with filters and CSV, a callback worked through its forms, its attempts."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser

import pytest

from callcenter.models import Callback, CallbackAttempt, Queue

SOON = datetime.now(UTC) + timedelta(hours=2)


class Page(HTMLParser):
    """Rows of the list, attempts, forms and error alerts of a callbacks page."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.rows: list[tuple[int, str]] = []
        self.attempts: list[str] = []
        self.forms: list[str] = []
        self.alerts = 0
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        values = dict(attrs)
        if tag == "tr" and "data-callback-id" in values:
            self.rows.append((int(values["data-callback-id"]), values["data-status"]))
        if tag == "tr" and "data-result" in values:
            self.attempts.append(values["data-result"])
        if tag == "form" and values.get("id"):
            self.forms.append(values["id"])
        if values.get("role") == "alert" and "error" in values.get("class", ""):
            self.alerts += 1


@pytest.fixture
def north(factory, session):
    queue = Queue(name="Support")
    session.add(queue)
    session.commit()
    return {"agent": factory.user("agent", team="North", username="north_agent"),
            "peer": factory.user("agent", team="North", username="north_peer"),
            "super": factory.user("supervisor", team="North", username="north_super"),
            "south": factory.user("agent", team="South", username="south_agent"),
            "queue": queue}


def _callback(session, owner, phone: str, **values) -> Callback:
    values.setdefault("status", "scheduled")
    callback = Callback(phone_e164=phone, owner_id=owner.id, requested_at=SOON - timedelta(hours=3), due_at=SOON,
                        **values)
    session.add(callback)
    session.commit()
    return callback


def test_the_list_shows_each_role_its_callbacks_filtered_and_as_csv(client, auth, session, north):
    mine = _callback(session, north["agent"], "+14155550100", queue_id=north["queue"].id, notes="=cmd|' /C calc'!A0")
    peers = _callback(session, north["peer"], "+14155550101", status="completed")
    south = _callback(session, north["south"], "+14155550102")

    auth.login("north_agent")
    assert Page(client.get("/callbacks").get_data(as_text=True)).rows == [(mine.id, "scheduled")]
    auth.logout()
    auth.login("north_super")
    assert sorted(Page(client.get("/callbacks").get_data(as_text=True)).rows) == [
        (mine.id, "scheduled"), (peers.id, "completed")]
    assert Page(client.get("/callbacks?status=completed").get_data(as_text=True)).rows == [(peers.id, "completed")]
    assert Page(client.get("/callbacks?open=1").get_data(as_text=True)).rows == [(mine.id, "scheduled")]
    assert Page(client.get("/callbacks?q=0101").get_data(as_text=True)).rows == [(peers.id, "completed")]
    assert Page(client.get(f"/callbacks?queue_id={north['queue'].id}").get_data(as_text=True)).rows == [
        (mine.id, "scheduled")]
    assert client.get(f"/callbacks/{south.id}", follow_redirects=True).status_code == 200  # flashed, not shown

    exported = client.get(f"/callbacks.csv?owner_id={north['agent'].id}")
    assert exported.status_code == 200 and exported.mimetype == "text/csv"
    rows = list(csv.DictReader(io.StringIO(exported.get_data(as_text=True))))
    assert [(int(r["id"]), r["phone"], r["queue"], r["notes"]) for r in rows] == [
        (mine.id, "'+14155550100", "Support", "'=cmd|' /C calc'!A0")]


def test_a_callback_is_rescheduled_reassigned_and_cancelled_from_its_page(client, auth, session, north):
    callback = _callback(session, north["agent"], "+14155550100", queue_id=north["queue"].id)
    session.add(CallbackAttempt(callback_id=callback.id, attempt=1, entry_id=f"cbk-{callback.id}-0",
                                agent_id=north["agent"].id, result="no_answer", call_sid="CAfirst"))
    session.commit()
    auth.login("north_super")
    page = Page(client.get(f"/callbacks/{callback.id}").get_data(as_text=True))
    assert page.forms == ["reschedule", "reassign", "cancel"] and page.attempts == ["no_answer"]

    later = (datetime.now(UTC) + timedelta(days=30)).replace(hour=9, minute=30, second=0, microsecond=0)
    client.post(f"/callbacks/{callback.id}/reschedule", data={"due_at": later.strftime("%Y-%m-%dT%H:%M")})
    client.post(f"/callbacks/{callback.id}/reassign", data={"owner_id": str(north["peer"].id)})
    refused = client.post(f"/callbacks/{callback.id}/reassign", data={"owner_id": str(north["south"].id)},
                          follow_redirects=True)
    assert Page(refused.get_data(as_text=True)).alerts == 1
    session.expire_all()
    moved = session.get(Callback, callback.id)
    assert (moved.due_at.replace(tzinfo=UTC), moved.owner_id) == (later, north["peer"].id)

    client.post(f"/callbacks/{callback.id}/cancel")
    session.expire_all()
    assert session.get(Callback, callback.id).status == "cancelled"
    assert Page(client.get(f"/callbacks/{callback.id}").get_data(as_text=True)).forms == []
