"""Call log filters, scope and CSV export on hand-made calls; unreadable filters are explained, never a 500."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime

from callcenter.models import Disposition


def _calls(session, factory):
    amy = factory.user(username="amy", team="North")
    bob = factory.user(username="bob", team="South")
    factory.user(role="admin", username="ada")
    sale = Disposition(code="sale", label="Sale")
    session.add(sale)
    session.commit()
    october = datetime(2026, 10, 5, 15, 0, tzinfo=UTC)
    made = {
        "short": factory.call(agent_id=amy.id, from_number="+14155550100", started_at=october, duration_seconds=20,
                              status="completed"),
        "long": factory.call(agent_id=amy.id, from_number="+14155550199", started_at=october, duration_seconds=600,
                             status="completed", disposition_id=sale.id),
        "out": factory.call(agent_id=bob.id, direction="outbound-dial", from_number="+18005550100",
                            to_number="+14155550100", started_at=datetime(2026, 10, 6, 9, 0, tzinfo=UTC),
                            duration_seconds=90, status="completed"),
    }
    return {name: call.call_sid for name, call in made.items()}


def _sids(response) -> set[str]:
    text = response.get_data(as_text=True)
    return {part.split('"', 1)[0] for part in text.split('data-call="')[1:]}


def test_filters_narrow_the_log_and_the_export_follows_them(client, auth, session, factory):
    sids = _calls(session, factory)
    auth.login("ada")
    assert _sids(client.get("/calls")) == set(sids.values())
    assert _sids(client.get("/calls?number=415-555-0100")) == {sids["short"], sids["out"]}  # from or to, any format
    assert _sids(client.get("/calls?direction=outbound-dial")) == {sids["out"]}
    assert _sids(client.get("/calls?min_duration=60&max_duration=120")) == {sids["out"]}
    assert _sids(client.get("/calls?disposition=sale")) == {sids["long"]}
    assert _sids(client.get("/calls?since=2026-10-06&until=2026-10-06")) == {sids["out"]}

    rows = list(csv.DictReader(io.StringIO(client.get("/calls.csv?min_duration=60").get_data(as_text=True))))
    assert {row["call_sid"]: (row["duration_seconds"], row["disposition"]) for row in rows} == {
        sids["long"]: ("600", "sale"), sids["out"]: ("90", "")}


def test_an_agent_sees_their_own_calls_only(client, auth, session, factory):
    sids = _calls(session, factory)
    auth.login("bob")
    assert _sids(client.get("/calls")) == {sids["out"]}
    assert client.get(f"/calls/{sids['short']}").status_code == 404
    assert client.get(f"/calls/{sids['out']}").status_code == 200


def test_unreadable_filters_are_explained(client, auth, session, factory):
    _calls(session, factory)
    auth.login("ada")
    for query, words in (("since=5th", "YYYY-MM-DD"), ("min_duration=-3", "min_duration"),
                         ("direction=sideways", "inbound"), ("number=call me", "")):
        response = client.get(f"/calls?{query}")
        assert response.status_code == 422, query
        assert words in response.get_data(as_text=True)
    assert client.get("/calls.csv?queue=x").status_code == 422
