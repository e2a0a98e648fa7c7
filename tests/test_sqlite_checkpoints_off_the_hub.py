"""A web worker's commits never flush the SQLite database to disk on the hub; a thread of the process does.

With WAL and synchronous=NORMAL, SQLite's only disk flushes are its checkpoints, run by whichever commit finds
1,000 pages in the WAL. In a gevent web worker that commit stopped every request and socket of the process for
as long as the disk took: the bench caught a 2.2 s `fdatasync` inside the agent's answer webhook
(callcenter.db.checkpoint_off_the_hub). The probe is the real web worker's app, loaded as gunicorn loads it.
"""

from __future__ import annotations

from tests.support.web_worker_probe import run_web_worker_probe

PROBE = """
import json, os, time
from gevent import monkey
monkey.patch_all()
import gevent
from sqlalchemy import text
from callcenter import db as db_module
from callcenter.extensions import db
from callcenter.webserver import WebServer

db_module.CHECKPOINT_EVERY_SECONDS = 0.05
app = WebServer({"bind": "127.0.0.1:0", "workers": 1, "worker_class": "gevent"}).load()
path = db.engine.url.database
with db.engine.begin() as connection:
    connection.execute(text("CREATE TABLE probe_pages (page BLOB)"))
    autocheckpoint = connection.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar()
start = os.path.getsize(path)
page = os.urandom(4000)
# 2,000 pages committed 50 at a time, without giving the hub a turn: commits of the process alone.
for _ in range(40):
    with db.engine.begin() as connection:
        connection.execute(text("INSERT INTO probe_pages (page) VALUES (:page)"), [{"page": page}] * 50)
after_commits = os.path.getsize(path)
wal = os.path.getsize(path + "-wal")
deadline = time.monotonic() + 20
while os.path.getsize(path) < start + 7_000_000 and time.monotonic() < deadline:
    gevent.sleep(0.05)  # the hub's turn: the checkpoint thread copies the WAL into the database file
print(json.dumps({"autocheckpoint": autocheckpoint, "start": start, "after_commits": after_commits, "wal": wal,
                  "after_a_turn": os.path.getsize(path)}))
"""


def test_a_web_worker_commits_without_checkpointing_and_its_thread_checkpoints(tmp_path):
    probe = run_web_worker_probe(PROBE, tmp_path)

    assert probe["autocheckpoint"] == 0
    # 8 MB committed: all of it still in the WAL, none copied into the database file by a commit.
    assert probe["wal"] > 7_000_000
    assert probe["after_commits"] == probe["start"]
    # Once the hub had a turn, the thread had copied it.
    assert probe["after_a_turn"] >= probe["start"] + 7_000_000
