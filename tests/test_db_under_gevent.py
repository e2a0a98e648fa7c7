"""The database layer under gevent, as the web server runs it: in a process gevent has patched.

Two requests of one process write to SQLite at once while the first waits on I/O mid-transaction (as a webhook
waits on Redis or the carrier). SQLite's own busy handler would sleep in C and stop every greenlet, the first one
included, until its timeout; the engine must make the second writer wait cooperatively instead.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

SCRIPT = textwrap.dedent(
    """
    from gevent import monkey; monkey.patch_all()
    import json, sys, time
    import gevent, gevent.event
    from sqlalchemy import text
    from callcenter.db import make_engine

    engine = make_engine("sqlite:///" + sys.argv[1])
    with engine.begin() as c:
        c.execute(text("CREATE TABLE t (n INTEGER)"))
    ticks = []

    def ticker():
        while len(ticks) < 200:
            ticks.append(time.monotonic())
            gevent.sleep(0.01)

    holding = gevent.event.Event()
    committed = []

    def writer(n, pause, after=None):
        if after is not None:
            after.wait()  # start only once the first writer holds its transaction, however long setup took
        with engine.begin() as c:
            c.execute(text("INSERT INTO t VALUES (:n)"), {"n": n})
            if pause:
                holding.set()
                gevent.sleep(pause)  # waiting on the network with the write transaction open
        committed.append(n)

    started = time.monotonic()
    gevent.joinall([gevent.spawn(ticker), gevent.spawn(writer, 1, 0.5), gevent.spawn(writer, 2, 0, holding)])
    with engine.connect() as c:
        rows = c.execute(text("SELECT count(*) FROM t")).scalar_one()
    gaps = [b - a for a, b in zip(ticks, ticks[1:])]
    print(json.dumps({"rows": rows, "longest_stall": max(gaps), "elapsed": time.monotonic() - started,
                      "committed": committed}))
    """
)


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_a_second_writer_waits_without_stopping_the_process(tmp_path):
    done = subprocess.run([sys.executable, "-c", SCRIPT, str(tmp_path / "gevent.sqlite")], capture_output=True,
                          text=True, timeout=110)
    assert done.returncode == 0, done.stderr
    outcome = json.loads(done.stdout.strip().splitlines()[-1])

    assert outcome["rows"] == 2 and outcome["committed"] == [1, 2]  # the second writer did wait for the first
    # The other greenlets kept running while the second writer waited its turn (a blocked hub stalls for
    # as long as the first writer's pause, or until SQLite's 30 s busy timeout).
    assert outcome["longest_stall"] < 0.3, outcome


OTHER_PROCESS_SCRIPT = textwrap.dedent(
    """
    from gevent import monkey; monkey.patch_all()
    import json, subprocess, sys, time
    import gevent
    from sqlalchemy import text
    from callcenter.db import make_engine

    path = sys.argv[1]
    engine = make_engine("sqlite:///" + path)
    with engine.begin() as c:
        c.execute(text("CREATE TABLE t (n INTEGER)"))
    holder = subprocess.Popen([sys.executable, "-c", '''
    import sqlite3, sys
    db = sqlite3.connect(sys.argv[1], isolation_level=None)
    db.execute("BEGIN IMMEDIATE"); db.execute("INSERT INTO t VALUES (0)")
    print("holding", flush=True); sys.stdin.readline(); db.execute("COMMIT")
    '''.replace("\\n    ", "\\n"), path], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "holding"
    ticks = []
    attempting, done = gevent.event.Event(), gevent.event.Event()
    times = {}

    def ticker():
        while not done.is_set():
            ticks.append(time.monotonic())
            gevent.sleep(0.01)

    def writer():
        attempting.set()
        with engine.begin() as c:
            c.execute(text("INSERT INTO t VALUES (1)"))
        times["written"] = time.monotonic()
        done.set()

    def release_the_other_process():
        attempting.wait()
        gevent.sleep(0.6)  # the other process keeps its transaction this long after this one starts to write
        times["released"] = time.monotonic()
        holder.stdin.write("commit\\n")
        holder.stdin.flush()

    gevent.joinall([gevent.spawn(ticker), gevent.spawn(writer), gevent.spawn(release_the_other_process)])
    holder.wait()
    with engine.connect() as c:
        rows = c.execute(text("SELECT count(*) FROM t")).scalar_one()
    gaps = [b - a for a, b in zip(ticks, ticks[1:])]
    print(json.dumps({"rows": rows, "longest_stall": max(gaps), "waited": times["written"] >= times["released"]}))
    """
)


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_a_writer_waiting_for_another_process_does_not_stop_this_one(tmp_path):
    done = subprocess.run([sys.executable, "-c", OTHER_PROCESS_SCRIPT, str(tmp_path / "shared.sqlite")],
                          capture_output=True, text=True, timeout=110)
    assert done.returncode == 0, done.stderr
    outcome = json.loads(done.stdout.strip().splitlines()[-1])

    assert outcome["rows"] == 2 and outcome["waited"]  # it waited for the other process's commit, then wrote
    # SQLite's busy handler would have slept in C, stopping every greenlet for the other process's 0.6 s.
    assert outcome["longest_stall"] < 0.3, outcome
