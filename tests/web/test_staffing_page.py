"""The staffing page: supervisors and admins compute one interval and a shift plan; agents are refused."""

from __future__ import annotations

from html.parser import HTMLParser

import pytest

TEXTBOOK = {"calls": "100", "interval_minutes": "30", "aht_seconds": "180", "target_service_level": "0.8",
            "answer_within_seconds": "20", "max_occupancy": "", "shrinkage": "0.3"}


class Figures(HTMLParser):
    """The machine values the page puts beside its formatted figures, and the plan's rows."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.result: dict[str, float] = {}
        self.plan: list[tuple[int, int]] = []
        self.alerts = 0
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        values = dict(attrs)
        if tag == "td" and "data-name" in values:
            self.result[values["data-name"]] = float(values["data-value"])
        if tag == "tr" and "data-agents" in values:
            self.plan.append((int(values["data-raw-agents"]), int(values["data-agents"])))
        if values.get("role") == "alert":
            self.alerts += 1


@pytest.mark.parametrize("role", ["supervisor", "admin"])
def test_page_opens_with_the_textbook_example_for_staff(client, auth, factory, role):
    user = factory.user(role=role)
    auth.login(user.username)
    response = client.get("/staffing")
    assert response.status_code == 200
    figures = Figures(response.get_data(as_text=True))
    # Defaults: 100 calls / 30 min, AHT 180 s, 80 % in 20 s, occupancy ≤ 85 %, shrinkage 30 %.
    assert (figures.result["raw_agents"], figures.result["agents"]) == (14, 20)
    assert figures.result["service_level"] == pytest.approx(0.8884, abs=1e-4)


def test_agents_are_refused(client, auth, factory):
    agent = factory.user(role="agent")
    auth.login(agent.username)
    assert client.get("/staffing").status_code == 403
    assert client.post("/staffing", data=TEXTBOOK).status_code == 403


def test_get_and_post_compute_the_interval_and_the_shift_plan(client, auth, factory):
    auth.login(factory.user(role="supervisor").username)
    given = client.get("/staffing", query_string=TEXTBOOK | {"agents": "13"})
    figures = Figures(given.get_data(as_text=True))
    assert given.status_code == 200
    assert figures.result["raw_agents"] == 13 and figures.result["agents"] == 19
    assert figures.result["service_level"] == pytest.approx(0.7956, abs=1e-4)
    assert "abandon_probability" not in figures.result

    posted = client.post("/staffing", data=TEXTBOOK | {"patience_seconds": "300",
                                                       "plan_start": "08:00", "plan": "0\n100\n200\n100 90\n"})
    figures = Figures(posted.get_data(as_text=True))
    assert posted.status_code == 200
    assert figures.result["abandon_probability"] > 0
    assert len(figures.plan) == 4
    assert figures.plan[0] == (0, 0)
    assert figures.plan[2][0] > figures.plan[1][0] > figures.plan[3][0]
    assert all(agents == -(-raw * 10 // 7) for raw, agents in figures.plan)


def test_bad_inputs_are_shown_not_computed(client, auth, factory):
    auth.login(factory.user(role="admin").username)
    response = client.get("/staffing", query_string=TEXTBOOK | {"target_service_level": "1.5"})
    figures = Figures(response.get_data(as_text=True))
    assert response.status_code == 422
    assert figures.alerts == 1 and figures.result == {}
    bad_plan = client.get("/staffing", query_string=TEXTBOOK | {"plan": "100\nmany\n"})
    assert bad_plan.status_code == 422 and Figures(bad_plan.get_data(as_text=True)).plan == []
