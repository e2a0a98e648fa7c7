"""The dialing trace: each call the predictive dialer places stores why it was dialled at that moment — the pacer's
inputs (agents free, lines in flight, answer and abandon rates) and the ratio it chose — readable by supervisors."""

from __future__ import annotations

from sqlalchemy import select

from callcenter.models import RoutingTrace
from callcenter.services import auth as auth_service
from callcenter.services import dialer
from tests.outbound.test_dialer import RecordingProvider, urls
from tests.outbound.test_pacer_in_the_dialer import NOW, _history, _ready, _settings, r  # noqa: F401


def test_each_predictive_dial_stores_the_pacers_inputs_and_ratio(session, r, outbound, factory, client):  # noqa: F811
    campaign = _ready(session, r, outbound, factory)
    _history(session, campaign, dials=200, live=80, abandoned=1)
    provider = RecordingProvider()

    run = dialer.dial_campaign(session, r, provider, campaign, NOW, urls, _settings())

    assert run.placed and all(p.call_sid for p in run.placed)
    traces = {t.call_sid: t for t in session.scalars(select(RoutingTrace).where(RoutingTrace.kind == "dialled"))}
    assert set(traces) == {p.call_sid for p in run.placed}
    trace = traces[run.placed[0].call_sid]
    assert trace.decided_at == NOW and trace.details["mode"] == "predictive"
    assert trace.details["reason"] == run.decision.reason
    inputs = trace.details["inputs"]
    assert inputs["agents_free"] == 3 and inputs["lines_in_flight"] == 0 and inputs["dials"] == 200
    assert inputs["answer_rate"] == 0.4 and inputs["abandon_rate"] == 1 / 80
    assert inputs["lines_per_agent"] == run.decision.lines_per_agent
    assert inputs["lines_to_dial"] == run.decision.lines == len(run.placed)

    admin = factory.user("admin")
    token = auth_service.issue_api_token(session, admin, "test", actor_id=None)
    session.commit()
    response = client.get(f"/api/v1/calls/{trace.call_sid}/trace", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200, response.get_data(as_text=True)
    [step] = response.get_json()["steps"]
    assert step["kind"] == "dialled"
    assert "Agents free 3" in step["why"][1] and "answer rate 40.0%" in step["why"][1]
