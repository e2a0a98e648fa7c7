"""Run a probe in a fresh gevent-patched interpreter that loads the web worker's app as gunicorn does.

The probe prints one JSON line last; the instance folder gives it its own SQLite database and embedded Redis.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]


def run_web_worker_probe(probe: str, instance: Path, timeout: float = 180) -> dict[str, Any]:
    env = {**os.environ, "CALLCENTER_INSTANCE": str(instance),
           "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    env.pop("DATABASE_URL", None)
    env.pop("REDIS_URL", None)
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=timeout, env=env,
                          cwd=instance)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])
