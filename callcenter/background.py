"""Work a request leaves for after its answer: in the gevent web server it runs once the answer has gone out.

A webhook answers its TwiML as soon as the answer is known; what only others need (a console's screen-pop, the
wallboard's figures, the RQ jobs the request deferred) goes out right after, in the same process. Elsewhere
(threads, the worker, the ticker, tests) there is no hub to hand it to, and it runs at once, as it does outside
an app context.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import Any

from flask import current_app, has_app_context, has_request_context, request
from werkzeug.wsgi import ClosingIterator

from callcenter.settings import gevent_patched

log = logging.getLogger(__name__)

# The WSGI environ's list of work an HTTP request left for after its response (set by RunAfterResponse).
AFTER_RESPONSE = "callcenter.after_response"


def beside_the_request(work: Callable[..., Any], *args: Any, what: str) -> None:
    """Run `work(*args)` in the app's context once the current request has answered (gevent), or now (elsewhere).

    An HTTP request's work waits for its response to be sent; a Socket.IO event's (no response to wait for) runs
    in a greenlet of its own. A greenlet spawned from a request used to start at the request's next wait for
    Redis or the database, so a screen-pop built there delayed the webhook's own answer.

    `what` names the work in the log when it fails: a failure there can no longer reach the request. The work is
    lost if the process dies before it runs, a window of a few milliseconds after the answer; what a request
    committed is already safe, and jobs it deferred were lost the same way when a process died in its teardown."""
    if not gevent_patched() or not has_app_context():
        work(*args)
        return
    app = current_app._get_current_object()  # type: ignore[attr-defined]

    def run() -> None:
        with app.app_context():
            try:
                work(*args)
            except Exception:
                log.exception("%s failed", what)

    after_response = request.environ.get(AFTER_RESPONSE) if has_request_context() else None
    if after_response is not None:
        after_response.append(run)
        return
    import gevent

    gevent.spawn(run)


class RunAfterResponse:
    """WSGI middleware: the work an HTTP request left with `beside_the_request` runs when the server closes the
    response, after it has written it (PEP 3333), in the request's own greenlet. Socket.IO's long-lived
    connections pass through: their events' work runs in greenlets of its own."""

    def __init__(self, wsgi_app: Callable[..., Iterable[bytes]], socketio_path: str = "/socket.io") -> None:
        self.wsgi_app = wsgi_app
        self.socketio_path = socketio_path

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if (environ.get("PATH_INFO") or "").startswith(self.socketio_path):
            return self.wsgi_app(environ, start_response)
        after_response: list[Callable[[], None]] = []
        environ[AFTER_RESPONSE] = after_response
        try:
            body = self.wsgi_app(environ, start_response)
        except BaseException:
            _run_all(after_response)
            raise
        return ClosingIterator(body, [lambda: _run_all(after_response)])


def _run_all(after_response: list[Callable[[], None]]) -> None:
    """In the order the request left them; each piece logs its own failure."""
    while after_response:
        after_response.pop(0)()
