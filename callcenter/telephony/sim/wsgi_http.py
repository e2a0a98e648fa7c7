"""An HTTP client for the twilio SDK that calls a Flask app in-process (tests and SIM_TRANSPORT=wsgi).

Each request runs on its own short-lived thread: the app's scoped database session is per thread, and a
request made from inside a webhook handler must not close the handler's session when it tears down.
"""

from __future__ import annotations

import base64
import threading
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
        headers = dict(headers or {})
        if auth:
            token = base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
            headers["Authorization"] = f"Basic {token}"
        parts = urlsplit(url)
        target = with_query(url, {k: str(v) for k, v in (params or {}).items() if v is not None})
        form = _form(data or {})
        result: dict[str, Any] = {}

        def run() -> None:
            try:
                client = FlaskClient(self.app, self.app.response_class)
                answer = client.open(target, method=method.upper(), data=form if method.upper() != "GET" else None,
                                     headers=headers, base_url=f"{parts.scheme}://{parts.netloc}")
                result["response"] = Response(answer.status_code, answer.get_data(as_text=True),
                                              dict(answer.headers))
            except Exception as exc:  # reported to the SDK caller below, like a transport error
                result["error"] = exc

        worker = threading.Thread(target=run, name="sim-wsgi-http", daemon=True)
        worker.start()
        worker.join()
        if "error" in result:
            raise result["error"]
        response: Response = result["response"]
        self._test_only_last_response = response
        return response


    def fetch_bytes(self, url: str, auth: tuple[str, str] | None = None) -> tuple[int, bytes, str]:
        """GET `url` in-process and return (status, raw body, content type): media, which the SDK's text
        Response would mangle."""
        headers: dict[str, str] = {}
        if auth:
            headers["Authorization"] = "Basic " + base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
        parts = urlsplit(url)
        result: dict[str, Any] = {}

        def run() -> None:
            try:
                answer = FlaskClient(self.app, self.app.response_class).get(
                    url, headers=headers, base_url=f"{parts.scheme}://{parts.netloc}")
                result["answer"] = (answer.status_code, answer.get_data(), answer.mimetype or "")
            except Exception as exc:
                result["error"] = exc

        worker = threading.Thread(target=run, name="sim-wsgi-http", daemon=True)
        worker.start()
        worker.join()
        if "error" in result:
            raise result["error"]
        return result["answer"]


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
