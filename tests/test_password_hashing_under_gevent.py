"""In the gevent web server a login's password hashing must not stop the process's other greenlets.

Argon2 takes tens of milliseconds per verification; on the hub, every webhook and socket of the process waited for
it. The web server runs it in gevent's thread pool instead (callcenter.webserver.hash_passwords_off_the_hub).
"""

from __future__ import annotations

import json
import subprocess
import sys

PROBE = """
import json, sys
from gevent import monkey
monkey.patch_all()
import gevent
from callcenter.services import auth
if sys.argv[1] == "pool":
    from callcenter.webserver import hash_passwords_off_the_hub
    hash_passwords_off_the_hub()
ticks = []
def tick():
    while True:
        ticks.append(1)
        gevent.sleep(0.001)
ticker = gevent.spawn(tick)
gevent.sleep(0.05)
before = len(ticks)
password_hash = auth.hash_password("correct horse battery")
valid = auth.verify_password(password_hash, "correct horse battery")
wrong = auth.verify_password(password_hash, "wrong horse battery")
during = len(ticks) - before
ticker.kill()
print(json.dumps({"valid": valid, "wrong": wrong, "ticks": during}))
"""


def _probe(mode: str) -> dict:
    done = subprocess.run([sys.executable, "-c", PROBE, mode], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_hashing_in_the_pool_lets_other_greenlets_run_and_still_checks_passwords():
    on_the_hub = _probe("hub")
    in_the_pool = _probe("pool")

    assert on_the_hub["valid"] and not on_the_hub["wrong"]
    assert in_the_pool["valid"] and not in_the_pool["wrong"]
    # Three Argon2 runs of ~67 ms each: a greenlet ticking every millisecond gets nowhere while they hold the hub,
    # and keeps ticking while they run in the pool.
    assert on_the_hub["ticks"] <= 3
    assert in_the_pool["ticks"] >= 30
