"""How the carrier reaches the application's webhooks: real HTTP, or the Flask app in-process for tests."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import urlencode, urlsplit

import requests
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
    """Webhooks over real HTTP with requests, with Twilio's timeout."""

    def __init__(self, timeout: float = WEBHOOK_TIMEOUT_SECONDS) -> None:
        self.timeout = timeout

    def send(self, method: str, url: str, params: dict[str, str], headers: dict[str, str]) -> WebhookResponse:
        try:
            if method == "GET":
                response = requests.get(url, headers=headers, timeout=self.timeout)
            else:
                response = requests.post(url, data=params, headers=headers, timeout=self.timeout)
        except requests.RequestException as exc:
            return WebhookResponse(0, "", error=f"{type(exc).__name__}: {exc}")
        return WebhookResponse(response.status_code, response.text, response.headers.get("Content-Type", ""))


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
