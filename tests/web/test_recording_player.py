"""The call page plays a call's recording through the product (never the carrier's URL), to those allowed; a
refused play is a 403 and an audit entry."""

from __future__ import annotations

import re

from sqlalchemy import select

from callcenter.models import AuditEntry, Recording

CARRIER_URL = "https://api.twilio.com/2010-04-01/Accounts/AC1/Recordings/RE1"


def _recorded_call(session, factory, agent):
    call = factory.call(agent_id=agent.id)
    recording = Recording(recording_sid="RE" + "b" * 32, call_sid=call.call_sid, call_id=call.id,
                          agent_id=agent.id, status="completed", duration_seconds=75, media_url=CARRIER_URL)
    session.add(recording)
    session.commit()
    return call, recording


def test_the_call_page_has_a_player_and_notes_form_for_the_agent(client, auth, session, factory):
    ada = factory.user(username="ada", team="Red")
    call, recording = _recorded_call(session, factory, ada)
    auth.login("ada")

    page = client.get(f"/calls/{call.call_sid}").get_data(as_text=True)

    assert re.search(rf'<audio[^>]+src="/recordings/{recording.id}/audio"', page)
    assert CARRIER_URL not in page
    noted = client.post(f"/recordings/{recording.id}/notes", data={"offset_seconds": "65", "body": "Refund agreed"})
    assert noted.status_code == 302
    assert "1:05" in client.get(f"/calls/{call.call_sid}").get_data(as_text=True)


def test_another_agent_may_not_play_it_and_the_attempt_is_audited(client, auth, session, factory):
    ada = factory.user(username="ada", team="Red")
    factory.user(username="ben", team="Blue")
    _, recording = _recorded_call(session, factory, ada)
    auth.login("ben")

    assert client.get(f"/recordings/{recording.id}/audio").status_code == 403

    session.expire_all()
    entry = session.scalar(select(AuditEntry).where(AuditEntry.action == "recording.access_refused"))
    assert entry is not None and entry.entity_id == str(recording.id) and entry.details["purpose"] == "play"
