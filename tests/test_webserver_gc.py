"""A web worker keeps the objects its start-up made out of the garbage collector's full passes.

Under gevent a collection stops every request and socket of the process. A full pass walked the ~220,000 objects
of the loaded app (modules, classes, the SDKs) every half minute under load, 180-300 ms each time: the webhooks'
p99. `WebServer.load` freezes them (callcenter.webserver.freeze_startup_objects), and greenlets no longer keep
the stack that spawned them (10,000 more objects on a busy worker).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

PROBE = """
import gc, json
from gevent import monkey
monkey.patch_all()
import gevent
from callcenter.webserver import WebServer
app = WebServer({"bind": "127.0.0.1:0", "workers": 1, "worker_class": "gevent"}).load()
gc.collect()
task = gevent.spawn(lambda: None)
task.join()
print(json.dumps({"frozen": gc.get_freeze_count(), "tracked": len(gc.get_objects()), "app": app.import_name,
                  "spawning_stack": task.spawning_stack is not None, "threshold": gc.get_threshold()}))
"""


def test_the_loaded_app_is_frozen_and_a_full_collection_walks_a_small_rest(tmp_path):
    env = {**os.environ, "CALLCENTER_INSTANCE": str(tmp_path),
           "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    env.pop("DATABASE_URL", None)
    env.pop("REDIS_URL", None)
    done = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=120, env=env,
                          cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    probe = json.loads(done.stdout.strip().splitlines()[-1])

    assert probe["app"] == "callcenter.app"
    # The app, its blueprints and the libraries they import: far more than any request makes.
    assert probe["frozen"] > 100_000
    # What a full pass still walks is what the process made after start-up, a small fraction of it.
    assert probe["tracked"] < probe["frozen"] / 5
    # Full passes come ten times less often than Python's default; the young generations keep its rhythm.
    assert probe["threshold"] == [700, 10, 100]
    # Nor does each greenlet carry a copy of the stack that spawned it.
    assert probe["spawning_stack"] is False
