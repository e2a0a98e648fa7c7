"""Under the gevent web server, a request's side work (`beside_the_request`) starts once its answer has gone out.

It used to run in a greenlet spawned at once, which gevent started at the request's next wait (a Redis round trip,
a PostgreSQL statement): a screen-pop built there delayed the webhook's own TwiML. Here the side work holds the
process without yielding until the client says it has its answer; it runs before that answer only if it started
too early, and then it gives up after a few seconds and says so.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import requests

from tests.support.servers import free_port, wait_until

REPO = Path(__file__).resolve().parents[1]

SERVER = """
import os, sys, time
from gevent import monkey
monkey.patch_all()
import gevent
from gevent.pywsgi import WSGIServer
from flask import Flask
from callcenter.background import RunAfterResponse, beside_the_request

marker, result, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
app = Flask(__name__)

def side_work(label):
    deadline = time.monotonic() + 5
    while not os.path.exists(marker) and time.monotonic() < deadline:
        pass  # holds the hub: nothing else of this process runs meanwhile, the answer included
    with open(result, "a") as out:
        out.write(f"{label}: {'after the answer' if os.path.exists(marker) else 'before the answer'}\\n")

@app.post("/webhook")
def webhook():
    beside_the_request(side_work, "pop", what="the test's side work")
    gevent.sleep(0)  # the request waits for something (Redis, the database), as every webhook does
    beside_the_request(side_work, "job", what="the test's side work")
    return "answered"

@app.get("/ping")
def ping():
    return "pong"

app.wsgi_app = RunAfterResponse(app.wsgi_app)
WSGIServer(("127.0.0.1", port), app, log=None).serve_forever()
"""


def test_a_requests_side_work_waits_for_its_answer_to_be_sent(tmp_path):
    marker, result, port = tmp_path / "answered", tmp_path / "result", free_port()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    server = subprocess.Popen([sys.executable, "-c", SERVER, str(marker), str(result), str(port)], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: _answers(f"{base}/ping"), timeout=30, message="the test server")
        answer = requests.post(f"{base}/webhook", timeout=30)
        marker.touch()
        wait_until(lambda: result.exists() and len(result.read_text().splitlines()) == 2, timeout=30,
                   message="both pieces of side work")
    finally:
        server.kill()
        _, stderr = server.communicate(timeout=10)

    assert answer.status_code == 200 and answer.text == "answered", stderr.decode()[-2000:]
    # In the order the request left them, each after the client had its answer.
    assert result.read_text().splitlines() == ["pop: after the answer", "job: after the answer"]


def _answers(url: str) -> bool:
    try:
        return requests.get(url, timeout=1).status_code == 200
    except requests.RequestException:
        return False
