"""A web worker keeps the objects its start-up made out of the garbage collector's full passes.

Under gevent a collection stops every request and socket of the process. A full pass walked the ~220,000 objects
of the loaded app (modules, classes, the SDKs) every half minute under load, 180-300 ms each time: the webhooks'
p99. `WebServer.load` freezes them (callcenter.webserver.freeze_startup_objects), and greenlets no longer keep
the stack that spawned them (10,000 more objects on a busy worker).
"""

from __future__ import annotations

from tests.support.web_worker_probe import run_web_worker_probe

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
    probe = run_web_worker_probe(PROBE, tmp_path)

    assert probe["app"] == "callcenter.app"
    # The app, its blueprints and the libraries they import: far more than any request makes.
    assert probe["frozen"] > 100_000
    # What a full pass still walks is what the process made after start-up, a small fraction of it.
    assert probe["tracked"] < probe["frozen"] / 5
    # Full passes come ten times less often than Python's default; the young generations keep its rhythm.
    assert probe["threshold"] == [700, 10, 100]
    # Nor does each greenlet carry a copy of the stack that spawned it.
    assert probe["spawning_stack"] is False
