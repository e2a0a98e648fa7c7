"""How the carrier reaches the application's webhooks: real HTTP, or the Flask app in-process for tests."""

from __future__ import annotations

import http.client
import logging
from base64 import b64encode
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import unquote, urlencode, urlsplit

from flask import Flask
from flask.testing import FlaskClient

log = logging.getLogger(__name__)
WEBHOOK_TIMEOUT_SECONDS = 15.0  # Twilio's whole budget for a voice webhook


@dataclass
class WebhookResponse:
    """What came back: status, body and content type (status 0: no answer at all)."""

    status: int
    body: str
    content_type: str = ""
    error: str | None = None


class Transport(Protocol):
    def send(self, method: str, url: str, params: dict[str, str], headers: dict[str, str]) -> WebhookResponse:
        """Send one webhook; never raise for network trouble, report it in the response."""


def with_query(url: str, params: dict[str, str]) -> str:
    """`url` with `params` appended to its query string (how GET webhooks carry their fields)."""
    if not params:
        return url
    return url + ("&" if urlsplit(url).query else "?") + urlencode(params)


class HttpTransport:
    """Webhooks over real HTTP, a new connection for each as Twilio opens them, with Twilio's timeout.

    On the standard library's http.client: requests built a session for every webhook, a millisecond of CPU
    (four times the rest of the send) spent under the GIL of a process that also runs the calls, and, in the
    bench, inside the latency measured."""

    def __init__(self, timeout: float = WEBHOOK_TIMEOUT_SECONDS) -> None:
        self.timeout = timeout

    def send(self, method: str, url: str, params: dict[str, str], headers: dict[str, str]) -> WebhookResponse:
        parts = urlsplit(url)
        headers = {**headers, "Connection": "close"}
        if parts.username is not None:  # Twilio sends a URL's credentials as HTTP basic auth
            credentials = f"{unquote(parts.username)}:{unquote(parts.password or '')}"
            headers["Authorization"] = "Basic " + b64encode(credentials.encode()).decode()
        body = None
        if method != "GET":
            body = urlencode(params)
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        connection_class = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
        connection = connection_class(parts.hostname or "", parts.port, timeout=self.timeout)
        try:
            connection.request(method, (parts.path or "/") + (f"?{parts.query}" if parts.query else ""), body=body,
                               headers=headers)
            response = connection.getresponse()
            raw = response.read()
        except (OSError, http.client.HTTPException) as exc:
            return WebhookResponse(0, "", error=f"{type(exc).__name__}: {exc}")
        finally:
            connection.close()
        content_type = response.getheader("Content-Type") or ""
        return WebhookResponse(response.status, _text(raw, response.headers.get_content_charset()), content_type)


def _text(raw: bytes, charset: str | None) -> str:
    """The body as text, in the charset it declares (TwiML is UTF-8 when it declares none)."""
    try:
        return raw.decode(charset or "utf-8", errors="replace")
    except LookupError:  # a charset Python does not know
        return raw.decode("utf-8", errors="replace")


class WsgiTransport:
    """Webhooks into a Flask app in-process; a fresh plain FlaskClient per request keeps threads apart
(not `app.test_client_class`: test fixtures may customise it for their own thread)."""

    def __init__(self, app: Flask) -> None:
        self.app = app

    def send(self, method: str, url: str, params: dict[str, str], headers: dict[str, str]) -> WebhookResponse:
        client = FlaskClient(self.app, self.app.response_class)
        try:
            if method == "GET":
                response = client.get(url, headers=headers)
            else:
                response = client.post(url, data=params, headers=headers)
        except Exception as exc:  # an exception escaping the app is what a 500 looks like from outside
            log.warning("webhook %s raised", url, exc_info=True)
            return WebhookResponse(500, "", error=f"{type(exc).__name__}: {exc}")
        return WebhookResponse(response.status_code, response.get_data(as_text=True), response.content_type or "")
