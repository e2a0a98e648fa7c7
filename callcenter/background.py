"""Work a request leaves for after its answer: in the gevent web server it runs in a greenlet of its own.

A webhook answers its TwiML as soon as the answer is known; what only others need (a console's screen-pop, the
wallboard's figures, the RQ jobs the request deferred) goes out right after, in the same process. Elsewhere
(threads, the worker, the ticker, tests) there is no hub to hand it to, and it runs at once, as it does outside
an app context.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from flask import current_app, has_app_context

from callcenter.settings import gevent_patched

log = logging.getLogger(__name__)


def beside_the_request(work: Callable[..., Any], *args: Any, what: str) -> None:
    """Run `work(*args)` in the app's context beside the current request (gevent), or now (elsewhere).

    `what` names the work in the log when it fails: a failure there can no longer reach the request. The work is
    lost if the process dies before it runs, a window of a few milliseconds after the answer; what a request
    committed is already safe, and jobs it deferred were lost the same way when a process died in its teardown."""
    if not gevent_patched() or not has_app_context():
        work(*args)
        return
    import gevent

    app = current_app._get_current_object()  # type: ignore[attr-defined]

    def run() -> None:
        with app.app_context():
            try:
                work(*args)
            except Exception:
                log.exception("%s failed", what)

    gevent.spawn(run)
