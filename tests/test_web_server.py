"""`callcenter web` as production runs it: gunicorn's gevent worker, many requests and sockets at once.

Under gevent every request is a greenlet of one OS thread. Before the request session was scoped per greenlet, the
session registry was a thread-local made before gevent patched the process, so concurrent webhooks shared one
session and failed with HTTP 500 (IllegalStateChangeError). Here they run at once and every one must succeed, and a
hundred open websockets must not cost a hundred threads.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import xml.etree.ElementTree as ET
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests
import sqlalchemy as sa
import websocket
from twilio.request_validator import RequestValidator

from callcenter.config_sync import CHANNEL, encode
from callcenter.db import make_engine
from callcenter.models import IvrFlow
from callcenter.services import config_cache
from tests.support.servers import free_port, wait_until

AUTH_TOKEN = "c" * 32
NUMBER = "+18005550100"


def _threads_of(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("Threads:"):
            return int(line.split()[1])
    raise AssertionError(f"no thread count for {pid}")


def _children(pid: int) -> list[int]:
    return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


@pytest.fixture
def web_server(tmp_path, sqlite_template, redis_server):
    """The web server alone, on a migrated SQLite copy with the demo line, and the test's Redis."""
    database = tmp_path / "web.sqlite"
    shutil.copy(sqlite_template, database)
    engine = make_engine(f"sqlite:///{database}")
    with sa.orm.Session(engine) as session:
        from tests.support.factories import Factory

        Factory(session).demo_line()
    engine.dispose()
    redis_server.client.flushall()

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TWILIO_", "SIM_"))}
    env.update(CALLCENTER_INSTANCE=str(tmp_path / "instance"), HOST="127.0.0.1", PORT=str(port),
               PUBLIC_BASE_URL=base, DATABASE_URL=f"sqlite:///{database}", REDIS_URL=redis_server.url,
               SECRET_KEY="web-server-test", SIM_AUTH_TOKEN=AUTH_TOKEN, TELEPHONY_PROVIDER="sim",
               SEED_DEMO="false")
    log = open(tmp_path / "web.log", "wb")  # noqa: SIM115 - the child writes to it until teardown
    process = subprocess.Popen([sys.executable, "-m", "callcenter", "web"], env=env, stdout=log,
                               stderr=subprocess.STDOUT)

    def serving():
        try:
            return requests.get(f"{base}/login", timeout=5).status_code == 200
        except (requests.ConnectionError, requests.Timeout):
            return process.poll() is not None and pytest.fail((tmp_path / "web.log").read_text())

    wait_until(serving, timeout=60, interval=0.2, message="the web server to answer")
    yield process, base, database
    workers = _children(process.pid)
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:  # never leave a server behind, whatever the test did to it
        for pid in workers:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        process.kill()
        process.wait()
    log.close()


def _voice(base: str, n: int) -> requests.Response:
    params = {"CallSid": f"CA{n:032d}", "From": f"+1415555{n:04d}", "To": NUMBER, "CallStatus": "ringing",
              "Direction": "inbound", "AccountSid": "AC" + "0" * 31 + "1"}
    url = f"{base}/ivr/voice"
    signature = RequestValidator(AUTH_TOKEN).compute_signature(url, params)
    return requests.post(url, data=params, headers={"X-Twilio-Signature": signature}, timeout=30)


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_concurrent_webhooks_each_get_their_own_session(web_server):
    _process, base, database = web_server

    with ThreadPoolExecutor(max_workers=40) as pool:
        responses = list(pool.map(lambda n: _voice(base, n), range(120)))

    assert [r.status_code for r in responses] == [200] * 120
    for response in responses:
        assert ET.fromstring(response.text).find("Gather") is not None, response.text
    engine = make_engine(f"sqlite:///{database}")
    with engine.connect() as connection:
        assert connection.exec_driver_sql("SELECT count(*) FROM calls").scalar_one() == 120
    engine.dispose()


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_open_websockets_cost_no_thread_each(web_server):
    process, base, _ = web_server
    (worker,) = _children(process.pid)  # gunicorn's one gevent worker
    before = _threads_of(worker)

    sockets = []
    try:
        for _ in range(100):
            ws = websocket.create_connection(f"ws{base[4:]}/socket.io/?EIO=4&transport=websocket", timeout=10)
            assert ws.recv().startswith("0{")  # engine.io OPEN: the server holds this socket now
            sockets.append(ws)
        during = _threads_of(worker)
    finally:
        for ws in sockets:
            ws.close()

    assert during - before < 10, (before, during)


def _greeting(response: requests.Response) -> str:
    return " ".join(say.text or "" for say in ET.fromstring(response.text).iter("Say"))


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_an_edit_committed_elsewhere_reaches_the_running_server(web_server, redis_server, monkeypatch):
    _process, base, database = web_server
    # The server answers only once it hears configuration changes.
    assert dict(redis_server.client.pubsub_numsub(CHANNEL)).get(CHANNEL.encode(), 0) >= 1
    first = _voice(base, 1)
    assert "Thank you for calling Acme" in _greeting(first), first.text

    monkeypatch.setattr(config_cache, "_relay", None)  # an app built earlier in this process would announce it
    engine = make_engine(f"sqlite:///{database}")
    with sa.orm.Session(engine) as session:
        flow = session.scalar(sa.select(IvrFlow).where(IvrFlow.phone_number == NUMBER))
        flow.definition = {**flow.definition, "greeting": "Season's greetings from the new menu."}
        session.commit()  # this process relays to no one: the server still answers from its snapshot
    engine.dispose()
    assert "Season's greetings" not in _greeting(_voice(base, 2))

    redis_server.client.publish(CHANNEL, encode(config_cache.IVR_FLOWS, None))  # what an editing process sends

    wait_until(lambda: "Season's greetings" in _greeting(_voice(base, 3)), timeout=10,
               message="the server to drop its flow snapshot")
