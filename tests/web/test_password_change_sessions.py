"""A password change ends every session signed in before it: pages, API, sockets and remember-me cookies."""

from __future__ import annotations

from callcenter.extensions import socketio


def _signed_in(app, username: str, password: str = "password123", remember: bool = False):
    client = app.test_client()
    data = {"username": username, "password": password}
    if remember:
        data["remember"] = "y"
    assert client.post("/login", data=data).status_code == 302
    return client


def test_an_admin_reset_ends_every_session_of_the_user(app, factory):
    alice = factory.user(username="alice")
    factory.user(username="root", role="admin")
    laptop, phone = _signed_in(app, "alice"), _signed_in(app, "alice", remember=True)
    assert laptop.get("/me").status_code == phone.get("/me").status_code == 200
    remembered = phone.get_cookie("remember_token")
    assert remembered is not None

    admin = _signed_in(app, "root")
    changed = admin.patch(f"/api/v1/users/{alice.id}", json={"password": "a-brand-new-one"})
    assert changed.status_code == 200, changed.get_json()

    assert laptop.get("/me").status_code == 302
    assert laptop.get("/api/v1/users/me").status_code == 401
    assert phone.get("/me").status_code == 302
    stolen = app.test_client()  # a remember-me cookie copied before the change does not sign in again
    stolen.set_cookie("remember_token", remembered.value)
    assert stolen.get("/me").status_code == 302
    refused = socketio.test_client(app, namespace="/agent", flask_test_client=laptop)
    assert not refused.is_connected("/agent")
    assert _signed_in(app, "alice", "a-brand-new-one").get("/me").json["username"] == "alice"


def test_a_socket_opened_before_the_change_is_closed_and_cannot_reopen(app, factory):
    alice = factory.user(username="alice")
    factory.user(username="root", role="admin")
    console = _signed_in(app, "alice")
    sock = socketio.test_client(app, namespace="/agent", flask_test_client=console)
    assert sock.is_connected("/agent")
    assert sock.emit("snapshot", {}, namespace="/agent", callback=True)["ok"] is True

    _signed_in(app, "root").patch(f"/api/v1/users/{alice.id}", json={"password": "a-brand-new-one"})

    assert not sock.is_connected("/agent")  # closed by the reset
    again = socketio.test_client(app, namespace="/agent", flask_test_client=console)
    assert not again.is_connected("/agent")  # and the old session cannot open another


def test_a_reset_closes_the_users_open_consoles(app, factory):
    """Heartbeats and offer acknowledgements do not load the user: the console itself must go."""
    from callcenter.redis_conn import get_redis
    from callcenter.services import reachability

    alice = factory.user(username="alice")
    bob = factory.user(username="bob")
    factory.user(username="root", role="admin")
    alice_sock = socketio.test_client(app, namespace="/agent", flask_test_client=_signed_in(app, "alice"))
    bob_sock = socketio.test_client(app, namespace="/agent", flask_test_client=_signed_in(app, "bob"))
    assert alice_sock.emit("heartbeat", {"nonce": "n1"}, namespace="/agent", callback=True)["ok"] is True

    _signed_in(app, "root").patch(f"/api/v1/users/{alice.id}", json={"password": "a-brand-new-one"})

    assert not alice_sock.is_connected("/agent")
    assert reachability.console_sockets(get_redis(app), alice.id) == []
    assert bob_sock.is_connected("/agent")
    assert bob_sock.emit("heartbeat", {"nonce": "n2"}, namespace="/agent", callback=True)["ok"] is True
    assert reachability.console_sockets(get_redis(app), bob.id) != []


def test_changing_your_own_password_keeps_this_session_and_ends_the_others(app, factory):
    root = factory.user(username="root", role="admin")
    here, elsewhere = _signed_in(app, "root"), _signed_in(app, "root")

    changed = here.patch(f"/api/v1/users/{root.id}", json={"password": "a-brand-new-one"})
    assert changed.status_code == 200, changed.get_json()

    assert here.get("/me").status_code == 200
    assert elsewhere.get("/me").status_code == 302


def test_other_changes_keep_sessions(app, factory):
    alice = factory.user(username="alice")
    factory.user(username="root", role="admin")
    laptop = _signed_in(app, "alice")
    _signed_in(app, "root").patch(f"/api/v1/users/{alice.id}", json={"full_name": "Alice Liddell"})
    assert laptop.get("/me").status_code == 200
