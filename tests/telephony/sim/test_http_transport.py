"""The emulator's webhooks over real HTTP (callcenter run, the bench): what a web server receives, and what the
carrier makes of the answer."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
from flask import Flask, Response, request
from twilio.request_validator import RequestValidator
from werkzeug.serving import make_server

from callcenter.telephony.sim.transport import HttpTransport, with_query
from tests.support.servers import free_port

AUTH_TOKEN = "0123456789abcdef0123456789abcdef"


@pytest.fixture
def server() -> Iterator[tuple[str, list[dict]]]:
    """A web server that checks Twilio's signature as the product does, and keeps what it received."""
    app = Flask(__name__)
    received: list[dict] = []

    @app.route("/hook", methods=["GET", "POST"])
    def hook() -> Response:
        signed = RequestValidator(AUTH_TOKEN).validate(
            request.url, request.form.to_dict() if request.method == "POST" else {},
            request.headers.get("X-Twilio-Signature", ""))
        received.append({"method": request.method, "args": request.args.to_dict(), "form": request.form.to_dict(),
                         "signed": signed, "authorization": request.authorization})
        return Response("<Response><Say>Grüß Gott, 你好</Say></Response>", mimetype="text/xml")

    @app.post("/broken")
    def broken() -> Response:
        return Response("no", status=503, content_type="text/plain; charset=latin-1")

    web = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=web.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{web.server_port}", received
    web.shutdown()


def _signed(url: str, params: dict[str, str]) -> dict[str, str]:
    return {"X-Twilio-Signature": RequestValidator(AUTH_TOKEN).compute_signature(url, params)}


def test_a_post_arrives_form_encoded_and_signed_and_its_twiml_comes_back_as_text(server):
    base, received = server
    url = f"{base}/hook?node=sales&attempt=1"
    params = {"CallSid": "CA" + "1" * 32, "From": "+14155550100", "SpeechResult": "billing & refunds, 100%"}

    response = HttpTransport().send("POST", url, params, _signed(url, params))

    assert response.status == 200
    assert response.content_type.startswith("text/xml")
    assert response.body == "<Response><Say>Grüß Gott, 你好</Say></Response>"
    assert received == [{"method": "POST", "args": {"node": "sales", "attempt": "1"}, "form": params,
                         "signed": True, "authorization": None}]


def test_a_get_carries_its_fields_in_the_query(server):
    base, received = server
    url = with_query(f"{base}/hook", {"CallSid": "CA" + "2" * 32, "Digits": "1#"})

    response = HttpTransport().send("GET", url, {}, _signed(url, {}))

    assert response.status == 200
    assert received[0]["method"] == "GET"
    assert received[0]["args"] == {"CallSid": "CA" + "2" * 32, "Digits": "1#"}
    assert received[0]["signed"] is True


def test_credentials_in_the_url_go_as_basic_auth(server):
    base, received = server
    url = base.replace("http://", "http://carrier:s%40cret@") + "/hook"

    HttpTransport().send("POST", url, {"CallSid": "CA" + "3" * 32}, {})

    assert received[0]["authorization"].type == "basic"
    assert (received[0]["authorization"].username, received[0]["authorization"].password) == ("carrier", "s@cret")


def test_an_error_status_is_reported_with_its_body_in_the_declared_charset(server):
    base, _ = server

    response = HttpTransport().send("POST", f"{base}/broken", {"CallSid": "CA" + "4" * 32}, {})

    assert (response.status, response.body, response.error) == (503, "no", None)


def test_no_server_is_status_zero_with_the_reason_and_no_exception():
    response = HttpTransport(timeout=2).send("POST", f"http://127.0.0.1:{free_port()}/hook", {"CallSid": "x"}, {})

    assert response.status == 0
    assert response.error is not None and "ConnectionRefused" in response.error
