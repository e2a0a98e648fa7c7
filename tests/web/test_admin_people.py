"""The people admin pages: users, teams and API tokens, for admins only; every change audited and effective at once."""

from __future__ import annotations

import time
from html.parser import HTMLParser

import pytest
from sqlalchemy import select

from callcenter.extensions import socketio
from callcenter.models import ApiToken, AuditEntry, Team, User
from callcenter.redis_conn import get_redis
from callcenter.services import acd, agent_state, reachability


class _Page(HTMLParser):
    """What the tests read from a page: texts by element id, and `data-*` attributes of table rows."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.texts: dict[str, str] = {}
        self.rows: dict[str, list[str]] = {}
        self._open: str | None = None
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if found.get("id"):
            self._open = found["id"]
            self.texts[self._open] = ""
        for name, value in attrs:
            if tag == "tr" and name.startswith("data-"):
                self.rows.setdefault(name[5:], []).append(value or "")

    def handle_endtag(self, tag: str) -> None:
        self._open = None

    def handle_data(self, data: str) -> None:
        if self._open:
            self.texts[self._open] += data


def _page(response) -> _Page:
    return _Page(response.get_data(as_text=True))


def _signed_in(app, username: str, password: str = "password123"):
    client = app.test_client()
    response = client.post("/login", data={"username": username, "password": password})
    assert response.status_code == 302, response.get_data(as_text=True)
    return client


def _can_sign_in(app, username: str, password: str) -> bool:
    return app.test_client().post("/login", data={"username": username, "password": password}).status_code == 302


@pytest.fixture
def admin(app, factory):
    factory.user(role="admin", username="root")
    return _signed_in(app, "root")


def _entries(session, action: str) -> list[AuditEntry]:
    session.expire_all()
    return list(session.scalars(select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.id)))


@pytest.mark.parametrize("role", ["agent", "supervisor"])
def test_only_admins_reach_the_pages(app, factory, role):
    target = factory.user(username="target")
    factory.user(role=role, username="someone")
    someone = _signed_in(app, "someone")
    for path in ("/admin/people/users", "/admin/people/users/new", f"/admin/people/users/{target.id}",
                 "/admin/people/teams", "/admin/people/tokens"):
        assert someone.get(path).status_code == 403, path
    assert someone.post(f"/admin/people/users/{target.id}/active", data={"active": "no"}).status_code == 403
    assert someone.post(f"/admin/people/users/{target.id}/sign-out").status_code == 403
    assert someone.post("/admin/people/tokens", data={"user_id": target.id, "name": "x"}).status_code == 403
    assert app.test_client().get("/admin/people/users").status_code == 302  # anonymous: to the login page


def test_the_back_office_nav_links_the_pages_for_admins_only(app, admin, factory):
    factory.user(role="supervisor", username="sam")
    assert 'href="/admin/people/users"' in admin.get("/audit").get_data(as_text=True)
    assert 'href="/admin/people/users"' not in _signed_in(app, "sam").get("/audit").get_data(as_text=True)


def test_create_a_user_with_a_generated_password_shown_once(app, admin, session):
    session.add(Team(name="North"))
    session.commit()
    north = session.scalar(select(Team).where(Team.name == "North"))
    created = admin.post("/admin/people/users/new", data={
        "username": "nina", "full_name": "Nina Simone", "role": "supervisor", "team_id": str(north.id),
        "language": "zh_Hans", "time_zone": "Asia/Shanghai", "password": ""})
    assert created.status_code == 200
    assert created.headers["Cache-Control"] == "no-store"
    password = _page(created).texts["secret"].strip()
    assert len(password) >= 16

    nina = session.scalar(select(User).where(User.username == "nina"))
    assert (nina.full_name, nina.role, nina.team_id, nina.language, nina.time_zone) == (
        "Nina Simone", "supervisor", north.id, "zh_Hans", "Asia/Shanghai")
    assert _can_sign_in(app, "nina", password)
    # shown once: the user's page does not show it again, and the audit log never had it
    assert password not in admin.get(f"/admin/people/users/{nina.id}").get_data(as_text=True)
    created_entry = _entries(session, "user.created")[-1]
    assert created_entry.details["after"]["team"] == "North" and password not in str(created_entry.details)


def test_create_refuses_bad_input_with_a_form_error(app, admin, factory):
    factory.user(username="taken")
    cases = [
        ({"username": "", "password": "longenough"}, 422, "username"),
        ({"username": "Taken", "password": "longenough"}, 409, "username"),
        ({"username": "x" * 81, "password": "longenough"}, 422, "username"),
        ({"username": "shorty", "password": "short"}, 422, "password"),
        ({"username": "roles", "password": "longenough", "role": "god"}, 422, "role"),
        ({"username": "teams", "password": "longenough", "team_id": "999"}, 422, "team"),
        ({"username": "zones", "password": "longenough", "time_zone": "Mars/Olympus"}, 422, "time_zone"),
    ]
    for data, status, _field in cases:
        response = admin.post("/admin/people/users/new", data=data)
        assert response.status_code == status, (data, response.status_code)
        assert _page(response).texts["form-error"].strip()
    for refused in ("shorty", "roles", "teams", "zones"):  # nothing half-made
        assert not _can_sign_in(app, refused, "longenough")


def test_the_list_filters_by_role_team_active_and_search(app, admin, factory, session):
    factory.user(username="ann", team="North")
    factory.user(username="bob", team="South")
    factory.user(role="supervisor", username="sue", team="North")
    gone = factory.user(username="gus")
    gone.active = False
    session.commit()
    north = session.scalar(select(Team.id).where(Team.name == "North"))

    def listed(query: str) -> list[str]:
        response = admin.get(f"/admin/people/users?{query}")
        assert response.status_code == 200
        return _page(response).rows.get("username", [])

    assert listed("role=supervisor") == ["sue"]
    assert listed(f"team={north}") == ["ann", "sue"]
    assert listed("team=none&role=agent") == ["gus"]
    assert listed("active=no") == ["gus"]
    assert listed("q=BO") == ["bob"]
    assert "gus" not in listed("active=yes")
    assert listed("role=nonsense&team=abc&page=x") == sorted(["root", "ann", "bob", "sue", "gus"])


def test_edit_a_user_audits_before_and_after_and_refuses_bad_levels(app, admin, factory, session):
    ann = factory.user(username="ann", team="North", skills={"billing": 3})
    old_name = ann.full_name
    session.add(Team(name="South"))
    session.commit()
    south = session.scalar(select(Team.id).where(Team.name == "South"))
    saved = admin.post(f"/admin/people/users/{ann.id}", data={
        "full_name": "Ann Other", "email": "ann@example.com", "role": "agent", "team_id": str(south),
        "level:billing": "7", "new_skill": "spanish", "new_level": "4"})
    assert saved.status_code == 302

    entry = _entries(session, "user.updated")[-1]
    assert entry.actor_id is not None and entry.entity_id == str(ann.id)
    assert entry.details["before"] == {"full_name": old_name, "email": None,
                                       "team": "North", "skills": {"billing": 3}}
    assert entry.details["after"] == {"full_name": "Ann Other", "email": "ann@example.com", "team": "South",
                                      "skills": {"billing": 7, "spanish": 4}}
    # the new skills reach routing now, not at the agent's next login
    assert sorted(agent_state.get_presence(get_redis(app), ann.id).skills.values()) == [4, 7]

    refused = admin.post(f"/admin/people/users/{ann.id}", data={"role": "agent", "level:billing": "11"})
    assert refused.status_code == 422 and _page(refused).texts["form-error"]
    refused = admin.post(f"/admin/people/users/{ann.id}", data={"role": "agent", "level:billing": "high"})
    assert refused.status_code == 422
    assert admin.get("/admin/people/users/999999").status_code == 404


def test_reset_password_lets_the_new_one_in_and_ends_sessions(app, admin, factory, session):
    ann = factory.user(username="ann")
    laptop = _signed_in(app, "ann")
    typed = admin.post(f"/admin/people/users/{ann.id}/password", data={"password": "a-typed-password"})
    assert typed.status_code == 200 and "secret" not in _page(typed).texts
    assert laptop.get("/me").status_code == 302
    assert _can_sign_in(app, "ann", "a-typed-password") and not _can_sign_in(app, "ann", "password123")

    generated = admin.post(f"/admin/people/users/{ann.id}/password", data={"password": ""})
    password = _page(generated).texts["secret"].strip()
    assert _can_sign_in(app, "ann", password) and not _can_sign_in(app, "ann", "a-typed-password")
    assert all(password not in str(e.details) for e in _entries(session, "user.updated"))

    short = admin.post(f"/admin/people/users/{ann.id}/password", data={"password": "short"})
    assert short.status_code == 422 and _can_sign_in(app, "ann", password)


def test_sign_out_everywhere_ends_sessions_and_consoles_but_not_the_password(app, admin, factory, session):
    ann = factory.user(username="ann")
    bob = factory.user(username="bob")
    laptop, phone, other = _signed_in(app, "ann"), _signed_in(app, "ann"), _signed_in(app, "bob")
    console = socketio.test_client(app, namespace="/agent", flask_test_client=laptop)
    assert console.is_connected("/agent")

    assert admin.post(f"/admin/people/users/{ann.id}/sign-out").status_code == 302

    assert laptop.get("/me").status_code == 302 and phone.get("/me").status_code == 302
    assert not console.is_connected("/agent")
    assert reachability.console_sockets(get_redis(app), ann.id) == []
    assert not socketio.test_client(app, namespace="/agent", flask_test_client=phone).is_connected("/agent")
    assert other.get("/me").status_code == 200 and bob.id != ann.id
    assert _signed_in(app, "ann").get("/me").status_code == 200  # the password still works
    entry = _entries(session, "user.signed_out_everywhere")[-1]
    assert entry.details["before"] == {"session_generation": 0} and entry.details["after"] == {
        "session_generation": 1}


def test_deactivation_ends_sessions_stops_routing_and_sign_in(app, admin, factory, session):
    factory.demo_line()
    ann = factory.user(username="ann", skills={"support": 5})
    laptop = _signed_in(app, "ann")
    r = get_redis(app)
    agent_state.login(session, r, ann.id)
    assert agent_state.get_presence(r, ann.id).offerable and ann.id in acd.available_agents(r)

    assert admin.post(f"/admin/people/users/{ann.id}/active", data={"active": "no"}).status_code == 302

    assert laptop.get("/me").status_code == 302
    assert not _can_sign_in(app, "ann", "password123")
    assert agent_state.get_presence(r, ann.id).state == agent_state.OFFLINE
    assert ann.id not in acd.available_agents(r)
    entry = _entries(session, "user.updated")[-1]
    assert entry.details["before"] == {"active": True} and entry.details["after"] == {"active": False}
    listed = admin.get("/admin/people/users?active=no")
    assert _page(listed).rows["username"] == ["ann"]

    assert admin.post(f"/admin/people/users/{ann.id}/active", data={"active": "yes"}).status_code == 302
    assert _can_sign_in(app, "ann", "password123")


def test_an_agent_deactivated_during_a_call_keeps_it_and_gets_no_further_one(app, admin, factory, session):
    ann = factory.user(username="ann")
    r = get_redis(app)
    agent_state.login(session, r, ann.id)
    acd.outbound_begin(r, ann.id, "CA-in-progress", time.time())  # on a call: offline is refused
    assert admin.post(f"/admin/people/users/{ann.id}/active", data={"active": "no"}).status_code == 302
    presence = agent_state.get_presence(r, ann.id)
    assert presence.state == agent_state.ON_CALL and presence.current_call == "CA-in-progress"
    assert presence.disconnected_at is not None and not presence.offerable


def test_an_admin_cannot_deactivate_themselves(app, admin, session):
    root = session.scalar(select(User).where(User.username == "root"))
    refused = admin.post(f"/admin/people/users/{root.id}/active", data={"active": "no"})
    assert refused.status_code == 422 and _page(refused).texts["form-error"]
    assert admin.get("/me").status_code == 200


def test_teams_create_rename_queue_and_members(app, admin, factory, session):
    queues = factory.demo_line()
    ann = factory.user(username="ann", team="Old")
    sue = factory.user(role="supervisor", username="sue")
    sue_client = _signed_in(app, "sue")

    created = admin.post("/admin/people/teams", data={"name": "North", "queue_id": str(queues["Support"].id)})
    assert created.status_code == 302
    north = session.scalar(select(Team).where(Team.name == "North"))
    assert north.queue_id == queues["Support"].id
    assert _entries(session, "team.created")[-1].details["after"] == {
        "name": "North", "queue_id": queues["Support"].id, "members": []}

    saved = admin.post(f"/admin/people/teams/{north.id}", data={
        "name": "North East", "queue_id": "", "member_ids": [str(ann.id), str(sue.id)]})
    assert saved.status_code == 302
    session.expire_all()
    assert (north.name, north.queue_id) == ("North East", None)
    assert {u.username for u in session.scalars(select(User).where(User.team_id == north.id))} == {"ann", "sue"}
    entry = _entries(session, "team.updated")[-1]
    assert entry.details["before"] == {"name": "North", "queue_id": queues["Support"].id, "members": []}
    assert entry.details["after"] == {"name": "North East", "queue_id": None, "members": ["ann", "sue"]}
    # the new supervisor sees the team's people from the next request on
    seen = sue_client.get("/api/v1/users").get_json()
    assert {item["username"] for item in seen["items"]} == {"ann", "sue"}
    listing = _page(admin.get("/admin/people/teams"))
    assert "North East" in listing.rows["team"]

    for data, status in (({"name": ""}, 422), ({"name": "old"}, 409), ({"name": "X", "queue_id": "999"}, 422),
                         ({"name": "X", "queue_id": "abc"}, 422), ({"name": "y" * 101}, 422)):
        response = admin.post(f"/admin/people/teams/{north.id}", data=data)
        assert response.status_code == status, data
        assert _page(response).texts["form-error"]
    assert admin.post("/admin/people/teams", data={"name": "North East"}).status_code == 409
    assert admin.get("/admin/people/teams/999999").status_code == 404


def test_tokens_issue_shows_the_secret_once_and_revoke_stops_api_calls(app, admin, factory, session):
    ann = factory.user(username="ann")
    issued = admin.post("/admin/people/tokens", data={"user_id": str(ann.id), "name": "crm sync"})
    assert issued.status_code == 200 and issued.headers["Cache-Control"] == "no-store"
    secret = _page(issued).texts["secret"].strip()
    api = app.test_client()
    headers = {"Authorization": f"Bearer {secret}"}
    assert api.get("/api/v1/users/me", headers=headers).get_json()["username"] == "ann"

    listing = admin.get("/admin/people/tokens").get_data(as_text=True)
    assert "crm sync" in listing and secret not in listing
    token = session.scalar(select(ApiToken).where(ApiToken.user_id == ann.id))
    assert admin.post(f"/admin/people/tokens/{token.id}/revoke").status_code == 302
    assert api.get("/api/v1/users/me", headers=headers).status_code == 401
    entry = _entries(session, "api_token.revoked")[-1]
    assert entry.details["before"] == {"revoked_at": None} and entry.details["after"]["revoked_at"]
    assert all(secret not in str(e.details) for e in _entries(session, "api_token.issued"))

    for data, status in (({"user_id": "", "name": "x"}, 422), ({"user_id": str(ann.id), "name": ""}, 422),
                         ({"user_id": str(ann.id), "name": "n" * 101}, 422), ({"user_id": "999", "name": "x"}, 404)):
        response = admin.post("/admin/people/tokens", data=data)
        assert response.status_code == status, data
        assert _page(response).texts["form-error"]
    assert admin.post("/admin/people/tokens/999999/revoke").status_code == 404


def test_a_deactivated_users_tokens_stop_working(app, admin, factory):
    ann = factory.user(username="ann")
    secret = _page(admin.post("/admin/people/tokens", data={"user_id": str(ann.id), "name": "n"})).texts["secret"]
    headers = {"Authorization": f"Bearer {secret.strip()}"}
    assert app.test_client().get("/api/v1/users/me", headers=headers).status_code == 200
    admin.post(f"/admin/people/users/{ann.id}/active", data={"active": "no"})
    assert app.test_client().get("/api/v1/users/me", headers=headers).status_code == 401
