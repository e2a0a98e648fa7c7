"""An HTTP client for the twilio SDK that calls a Flask app in-process (tests and SIM_TRANSPORT=wsgi).

Each request runs on its own short-lived thread: the app's scoped database session is per thread, and a
request made from inside a webhook handler must not close the handler's session when it tears down.
"""

from __future__ import annotations

import base64
import threading
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from flask import Flask
from flask.testing import FlaskClient
from twilio.http import HttpClient
from twilio.http.response import Response
from werkzeug.datastructures import MultiDict

from callcenter.telephony.sim.transport import with_query


class WsgiHttpClient(HttpClient):
    """`twilio.http.HttpClient` whose requests go to `app.test_client()` instead of the network."""

    def __init__(self, app: Flask) -> None:
        super().__init__(logger=_logger(), is_async=False, timeout=None)
        self.app = app

    def request(
        self,
        method: str,
        url: str,
        params: dict[str, object] | None = None,
        data: dict[str, object] | None = None,
        headers: dict[str, str] | None = None,
        auth: tuple[str, str] | None = None,
        timeout: float | None = None,
        allow_redirects: bool = False,
    ) -> Response:
        headers = _with_auth(headers, auth)
        parts = urlsplit(url)
        target = with_query(url, {k: str(v) for k, v in (params or {}).items() if v is not None})
        form = _form(data or {})

        def run() -> Response:
            client = FlaskClient(self.app, self.app.response_class)
            answer = client.open(target, method=method.upper(), data=form if method.upper() != "GET" else None,
                                 headers=headers, base_url=f"{parts.scheme}://{parts.netloc}")
            return Response(answer.status_code, answer.get_data(as_text=True), dict(answer.headers))

        response: Response = _on_own_thread(run)
        self._test_only_last_response = response
        return response

    def fetch_bytes(self, url: str, auth: tuple[str, str] | None = None) -> tuple[int, bytes, str]:
        """GET `url` in-process and return (status, raw body, content type): media, which the SDK's text
        Response would mangle."""
        headers = _with_auth({}, auth)
        parts = urlsplit(url)

        def run() -> tuple[int, bytes, str]:
            answer = FlaskClient(self.app, self.app.response_class).get(
                url, headers=headers, base_url=f"{parts.scheme}://{parts.netloc}")
            return answer.status_code, answer.get_data(), answer.mimetype or ""

        return _on_own_thread(run)


def _with_auth(headers: dict[str, str] | None, auth: tuple[str, str] | None) -> dict[str, str]:
    headers = dict(headers or {})
    if auth:
        headers["Authorization"] = "Basic " + base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
    return headers


def _on_own_thread(run: Callable[[], Any]) -> Any:
    """`run()` on a short-lived thread (its own scoped session); its exception is raised here, like a transport
    error to the SDK caller."""
    result: dict[str, Any] = {}

    def target() -> None:
        try:
            result["value"] = run()
        except Exception as exc:
            result["error"] = exc

    worker = threading.Thread(target=target, name="sim-wsgi-http", daemon=True)
    worker.start()
    worker.join()
    if "error" in result:
        raise result["error"]
    return result["value"]


def _form(data: dict[str, object]) -> MultiDict:
    """Form fields as the SDK means them: lists become repeated fields, booleans 'true'/'false'."""
    fields: list[tuple[str, str]] = []
    for name, value in data.items():
        values = value if isinstance(value, list | tuple) else [value]
        for item in values:
            if item is None:
                continue
            fields.append((name, ("true" if item else "false") if isinstance(item, bool) else str(item)))
    return MultiDict(fields)


def _logger() -> Any:
    import logging

    return logging.getLogger("twilio.http_client")
