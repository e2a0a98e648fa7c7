"""The web process dies (SIGKILL, the whole gunicorn group) and is started again while agents are connected and
one of them is on a call: the consoles reconnect by themselves, the agents' states are what they were (in Redis and
in the snapshot the server sends each console on connect), and the call goes on and can be ended and wrapped up.

The product runs as in production, in its own process (`python -m callcenter web`); the carrier emulator runs in
this test process (its REST API on its own port, given to the product as SIM_REST_URL, webhooks over real HTTP),
so the call outlives the web process as it would at Twilio.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests
import socketio
from sqlalchemy.orm import Session
from werkzeug.serving import make_server

from callcenter import create_app
from callcenter.db import make_engine
from callcenter.models import Disposition
from callcenter.services import agent_state, calls
from callcenter.services.interactions import agent_identity, conference_name
from callcenter.telephony.sim import get_carrier
from callcenter.telephony.sim.testing import strict_carrier
from tests.support.factories import Factory
from tests.support.servers import RedisServer, free_port, wait_until

ROOT = Path(__file__).resolve().parents[2]
NUMBER = "+18005550100"
CALLER = "+14155550177"
ACCOUNT_SID = "AC" + "0" * 31 + "7"
AUTH_TOKEN = "d" * 32
USER_AGENT = "fault-test-console/1.0"


class WebProcess:
    """`python -m callcenter web` in its own process group, so a kill takes gunicorn's worker with it."""

    def __init__(self, env: dict[str, str], log: Path, base: str) -> None:
        self.env, self.log, self.base = env, log, base
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.process = subprocess.Popen([sys.executable, "-m", "callcenter", "web"], env=self.env, cwd=ROOT,
                                            stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        wait_until(self._serving, timeout=60, interval=0.1, message="the web server to answer")

    def _serving(self) -> bool:
        if self.process is not None and self.process.poll() is not None:
            pytest.fail(f"the web process exited:\n{self.log.read_text()[-3000:]}")
        try:
            return requests.get(f"{self.base}/login", timeout=2).status_code == 200
        except requests.RequestException:
            return False

    def kill(self) -> None:
        """SIGKILL to the whole group: no shutdown handler, no socket disconnect event runs."""
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)


@dataclass
class Console:
    """An agent's console: a real login and a python-socketio client on /agent (websocket transport) that
    reconnects by itself, keeping every `hello` snapshot and `offer` it receives."""

    base: str
    username: str
    http: requests.Session = field(default_factory=requests.Session)
    hellos: list[dict[str, Any]] = field(default_factory=list)
    offers: list[dict[str, Any]] = field(default_factory=list)
    sio: Any = None

    def connect(self) -> Console:
        self.http.headers["User-Agent"] = USER_AGENT  # strong session protection ties the session to it
        page = self.http.get(f"{self.base}/login", timeout=10).text
        token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page)
        assert token is not None, page
        response = self.http.post(f"{self.base}/login", data={"username": self.username, "password": "password123",
                                                               "csrf_token": token.group(1)},
                                  allow_redirects=False, timeout=10)
        assert response.status_code == 302, response.text
        self.sio = socketio.Client(reconnection=True, reconnection_delay=0.2, reconnection_delay_max=1,
                                   randomization_factor=0, http_session=self.http, handle_sigint=False)
        self.sio.on("hello", self.hellos.append, namespace="/agent")
        self.sio.on("offer", self.offers.append, namespace="/agent")
        self.sio.connect(self.base, namespaces=["/agent"], transports=["websocket"], wait_timeout=20,
                         headers={"User-Agent": USER_AGENT})
        wait_until(lambda: self.hellos, message=f"{self.username}'s first hello")
        return self

    def call(self, event: str, data: dict[str, Any]) -> Any:
        return self.sio.call(event, data, namespace="/agent", timeout=10)

    def api(self, path: str, body: dict[str, Any] | None = None) -> requests.Response:
        token = self.http.get(f"{self.base}/api/v1/csrf-token", timeout=10).json()["csrf_token"]
        return self.http.post(f"{self.base}/api/v1{path}", json=body or {}, headers={"X-CSRFToken": token},
                              timeout=10)


@pytest.fixture
def product(database_url, tmp_path) -> Iterator[dict[str, Any]]:
    """A migrated database with the demo line, two Sales agents and a disposition; its own Redis; the carrier in
    this process; the web process (not yet started)."""
    engine = make_engine(database_url)
    with Session(engine) as session:
        factory = Factory(session)
        factory.demo_line()
        people = {name: factory.user(skills={"sales": 5}, username=name).id for name in ("alice", "bob")}
        session.add(Disposition(code="resolved", label="Resolved"))
        session.commit()
    engine.dispose()
    redis = RedisServer()
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    harness = create_app({
        "INSTANCE_PATH": str(tmp_path / "harness"), "SECRET_KEY": "fault-harness", "TESTING": True,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'harness.sqlite'}", "REDIS_URL": redis.url,
        "SOCKETIO_MESSAGE_QUEUE": False, "PUBLIC_BASE_URL": base, "TELEPHONY_PROVIDER": "sim",
        "SIM_TRANSPORT": None, "SIM_SPEED": 10, "SIM_PHONE_NUMBERS": [NUMBER],
        "SIM_ACCOUNT_SID": ACCOUNT_SID, "SIM_AUTH_TOKEN": AUTH_TOKEN,
    })
    rest = make_server("127.0.0.1", 0, harness, threaded=True)
    threading.Thread(target=rest.serve_forever, name="carrier-rest", daemon=True).start()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TWILIO_", "SIM_"))}
    env.update(PYTHONPATH=str(ROOT), CALLCENTER_INSTANCE=str(tmp_path / "instance"), HOST="127.0.0.1",
               PORT=str(port), PUBLIC_BASE_URL=base, DATABASE_URL=database_url, REDIS_URL=redis.url,
               SECRET_KEY="fault-web-restart", TELEPHONY_PROVIDER="sim", SIM_ACCOUNT_SID=ACCOUNT_SID,
               SIM_AUTH_TOKEN=AUTH_TOKEN, SIM_REST_URL=f"http://127.0.0.1:{rest.server_port}/sim",
               SIM_PHONE_NUMBERS=NUMBER, SOCKETIO_MESSAGE_QUEUE="true", JOBS_INLINE="true", HOLD_SECONDS="20",
               OFFER_ACK_SECONDS="5", SEED_DEMO="false")
    web = WebProcess(env, Path(tempfile.mkdtemp(prefix="cc-web-", dir=tmp_path)) / "web.log", base)
    consoles: list[Console] = []
    try:
        with strict_carrier(get_carrier(harness)) as carrier:
            yield {"web": web, "base": base, "carrier": carrier, "redis": redis.client, "people": people,
                   "consoles": consoles, "database_url": database_url}
    finally:
        for console in consoles:
            if console.sio is not None:
                console.sio.disconnect()
        web.kill()
        rest.shutdown()
        redis.stop()


def _presence(r, agent_id: int) -> tuple[str, str | None]:
    presence = agent_state.get_presence(r, agent_id)
    return presence.state, presence.current_call


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_agents_reconnect_with_their_state_and_call_after_the_web_process_restarts(product):
    web, carrier, r, people = product["web"], product["carrier"], product["redis"], product["people"]
    web.start()
    alice, bob = (Console(product["base"], name).connect() for name in ("alice", "bob"))
    product["consoles"].extend([alice, bob])
    softphone = carrier.client(agent_identity(people["bob"]))
    assert bob.call("set_state", {"state": "available"})["ok"]
    caller = carrier.dial(CALLER, NUMBER)
    caller.wait_for_say("For sales")
    caller.press("1")
    [offer] = wait_until(lambda: bob.offers, message="the offer to bob")
    assert offer["call_sid"] == caller.sid
    bob.call("offer_ack", {"call_sid": caller.sid})
    softphone.wait_for_incoming()
    agent_leg = softphone.accept()
    room = conference_name(caller.sid)
    wait_until(lambda: len(getattr(carrier.conference(room), "participants", {}) or {}) == 2,
               message="caller and bob in the conference")
    assert alice.call("set_state", {"state": "available"})["ok"]
    before = {"alice": ("available", None), "bob": ("on_call", caller.sid)}
    assert {name: _presence(r, people[name]) for name in before} == before
    hellos_before = len(alice.hellos), len(bob.hellos)

    web.kill()
    web.start()
    # A carrier callback in flight when the process died gets no answer (Twilio logs an 11200 for it); only
    # conference progress callbacks may be lost that way, never a step of the caller's call.
    lost = [(e.code, e.url) for e in carrier.errors]
    assert all(code == 11200 and url.endswith("/ivr/conference/status") for code, url in lost), lost
    carrier.errors.clear()

    # Both consoles reconnect by themselves and get a snapshot that matches what they were doing.
    wait_until(lambda: len(alice.hellos) > hellos_before[0] and len(bob.hellos) > hellos_before[1], timeout=20,
               message="both consoles to reconnect")
    wait_until(lambda: alice.sio.connected and bob.sio.connected, message="both consoles connected")
    assert (alice.hellos[-1]["presence"]["state"], alice.hellos[-1]["call"]) == ("available", None)
    bob_hello = bob.hellos[-1]
    assert (bob_hello["presence"]["state"], bob_hello["presence"]["current_call"]) == ("on_call", caller.sid)
    assert bob_hello["call"]["call_sid"] == caller.sid
    assert {name: _presence(r, people[name]) for name in before} == before
    assert bob.call("snapshot", {})["presence"]["state"] == "on_call"
    # The REST API of the restarted server, through the same signed-in sessions, says the same.
    seen_by_alice = alice.http.get(f"{product['base']}/api/v1/agent/config", timeout=10).json()["colleagues"]
    seen_by_bob = bob.http.get(f"{product['base']}/api/v1/agent/config", timeout=10).json()["colleagues"]
    assert [c["state"] for c in seen_by_alice if c["id"] == people["bob"]] == ["on_call"]
    assert [c["state"] for c in seen_by_bob if c["id"] == people["alice"]] == ["available"]
    # The call never noticed: both legs are still up and bridged.
    assert caller.status == "in-progress" and agent_leg.status == "in-progress"
    assert len(carrier.conference(room).participants) == 2

    # Bob ends the call from his console and wraps it up, through the restarted server.
    hung_up = bob.api(f"/calls/{caller.sid}/hangup")
    assert hung_up.status_code == 200, hung_up.text
    caller.wait_ended()
    agent_leg.wait_ended()
    wait_until(lambda: _presence(r, people["bob"])[0] == "wrap_up", message="bob in wrap-up")
    wrapped = bob.api(f"/calls/{caller.sid}/wrap-up", {"disposition": "resolved", "notes": "after the restart"})
    assert wrapped.status_code == 200, wrapped.text
    engine = make_engine(product["database_url"])
    try:
        with Session(engine) as session:
            def completed():
                session.expire_all()
                record = calls.get_call(session, caller.sid)
                return record if record is not None and record.status == "completed" else None

            record = wait_until(completed, message="the call record to complete")
            assert (record.agent_id, record.notes) == (people["bob"], "after the restart")
            assert record.disposition.code == "resolved"
    finally:
        engine.dispose()
