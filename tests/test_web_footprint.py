"""A web process carries only what serving needs: the tools admins run now and then are imported when used.

Issue 8 caps each product process at 200 MB; Alembic alone (with Mako and Pygments) was ~9 MB of every web worker.
"""

from __future__ import annotations

import json
import subprocess
import sys

HEAVY_OPTIONAL = ("alembic", "mako", "pygments")


def test_creating_the_web_app_imports_no_migration_tooling(tmp_path):
    probe = (
        "import json, sys\n"
        "from callcenter import create_app\n"
        "create_app({'INSTANCE_PATH': sys.argv[1], 'SOCKETIO_MESSAGE_QUEUE': False})\n"
        f"print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in {HEAVY_OPTIONAL!r})))\n"
    )
    done = subprocess.run([sys.executable, "-c", probe, str(tmp_path)], capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads(done.stdout.strip().splitlines()[-1]) == []
