"""The carrier's REST client honours the proxy environment, read once when the provider is built (requests would
walk the whole environment again on every call)."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from callcenter.telephony.base import TelephonyError
from callcenter.telephony.twilio_provider import TwilioProvider

CALL_SID = "CA" + "0" * 32
ACCOUNT_SID = "AC" + "1" * 32


class _Proxy(BaseHTTPRequestHandler):
    """An HTTP proxy that answers every request itself, keeping the request line it was asked for."""

    protocol_version = "HTTP/1.1"
    seen: list[str] = []

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        _Proxy.seen.append(self.path)
        body = json.dumps({"sid": CALL_SID, "status": "in-progress", "to": "+14155550100",
                           "from": "+14155550101", "direction": "inbound"}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_args: object) -> None:
        pass


@pytest.fixture
def proxy() -> Iterator[str]:
    _Proxy.seen = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Proxy)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def _provider() -> TwilioProvider:
    # `.invalid` never resolves: a request that did not go through the proxy fails.
    return TwilioProvider(account_sid=ACCOUNT_SID, auth_token="token", base_url="http://carrier.invalid/sim")


def test_rest_calls_go_through_the_proxy_the_environment_named_when_the_provider_was_built(monkeypatch, proxy):
    monkeypatch.setenv("HTTP_PROXY", proxy)
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    provider = _provider()
    monkeypatch.delenv("HTTP_PROXY")  # read once: a later change of the environment is not looked up per call

    assert provider.redirect_call(CALL_SID, url="http://app.example/ivr/requeue").sid == CALL_SID
    assert _Proxy.seen == [f"http://carrier.invalid/sim/2010-04-01/Accounts/{ACCOUNT_SID}/Calls/{CALL_SID}.json"]


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.2", 0))
        return probe.getsockname()[1]


def test_a_carrier_host_listed_in_no_proxy_is_reached_directly(monkeypatch, proxy):
    monkeypatch.setenv("HTTP_PROXY", proxy)
    monkeypatch.setenv("NO_PROXY", "127.0.0.2")
    # Reached directly, a closed port refuses at once (no name to resolve); through the proxy it would answer.
    provider = TwilioProvider(account_sid=ACCOUNT_SID, auth_token="token",
                              base_url=f"http://127.0.0.2:{_closed_port()}/sim")

    with pytest.raises(TelephonyError):
        provider.redirect_call(CALL_SID, url="http://app.example/ivr/requeue")
    assert _Proxy.seen == []
