"""Every voice webhook, fed signed but malformed bodies built by Hypothesis, answers sensibly and writes nothing half.

The carrier's signature is valid on every request here, so the input reaches the views: missing fields, wrong
types, huge strings, NUL bytes, lone surrogates and bytes that are not UTF-8, unknown or known CallSids, odd
CallStatus values, Digits garbage, negative and huge numbers, repeated keys, odd query strings.

Whatever arrives, the answer is one of
- a 4xx with a message, having written nothing (no call row, no call event);
- 204 for the callbacks the carrier only reports to (status, agent leg, conference);
- TwiML whose root is <Response>;
and no view raised something unexpected: `fail_safe` turns any exception into a fallback the caller hears, so a
plain status-code check would never see a crash; its log record (level ERROR) is what says a view broke.
"""

from __future__ import annotations

import logging
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from urllib.parse import quote_from_bytes

import pytest
import sqlalchemy as sa
from flask import Flask
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from twilio.request_validator import RequestValidator
from werkzeug.test import EnvironBuilder

from tests.test_url_map import _routes

AUTH_TOKEN = "webhook-fuzz-auth-token"
NUMBER = "+18005550100"
KNOWN_SID = "CA" + "4" * 32
FORM = "application/x-www-form-urlencoded"
# The carrier's only-reported-to callbacks: 204 with no body is their answer.
ACKNOWLEDGED = frozenset({"/ivr/status", "/ivr/agent/status", "/ivr/conference/status", "/ivr/campaign/status",
                          "/ivr/recording/status", "/ivr/voicemail/transcription"})
TWILIO_FIELDS = ("CallSid", "AccountSid", "From", "To", "Caller", "Called", "CallStatus", "Direction", "Digits",
                 "SpeechResult", "Confidence", "CallDuration", "SequenceNumber", "Timestamp", "RecordingUrl",
                 "RecordingSid", "RecordingDuration", "TranscriptionText", "CallerId", "ApiVersion", "ParentCallSid",
                 "QueueTime", "DialCallStatus", "RecordingStatus", "TranscriptionStatus")
# Parameters the views read as numbers: in the query (our own URLs) and in the carrier's form.
QUERY_FIELDS = ("node", "attempt", "agent", "entry", "queue")
NUMBER_FIELDS = ("Digits", "RecordingDuration", "CallDuration", "SequenceNumber", "Confidence", "QueueTime")


@pytest.fixture
def app_config(app_config):
    """The emulator is the carrier (in-process: nothing leaves the machine) and signs with a token we know."""
    app_config.update(TELEPHONY_PROVIDER="sim", SIM_TRANSPORT="wsgi", SIM_AUTH_TOKEN=AUTH_TOKEN,
                      SIM_PHONE_NUMBERS=[NUMBER])
    return app_config


@pytest.fixture
def webhook_paths(app: Flask) -> list[str]:
    """Every POST route under /ivr/, found by walking the URL map (a new webhook is fuzzed the day it is added)."""
    paths = sorted({url for _rule, method, url in _routes(app) if url.startswith("/ivr/") and method == "POST"})
    assert len(paths) >= 10, paths
    return paths


class _Errors(logging.Handler):
    """Collects ERROR records: `fail_safe` logs one whenever a view raised something it did not expect."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def logged_errors() -> Iterator[_Errors]:
    handler = _Errors()
    root = logging.getLogger()
    root.addHandler(handler)
    yield handler
    root.removeHandler(handler)


# --- what the carrier might (mis)send --------------------------------------------------------------------------------

# NUL is drawn on purpose by a few values below; everywhere it would only make the guard refuse most requests.
_nasty_text = st.text(st.characters(codec="utf-8", exclude_categories=["Cs"], exclude_characters="\x00"), max_size=40)
_control_text = st.text(st.sampled_from("\x01\x1b\x7f\ufffe\ufeff\u202e\U0001F4DE\u00e9\u4e2d"), max_size=8)
_numbers = st.one_of(st.integers(-(2**70), 2**70), st.floats(allow_nan=True, allow_infinity=True)).map(str)
_values: st.SearchStrategy[bytes] = st.one_of(
    _nasty_text.map(lambda s: s.encode()),
    _control_text.map(lambda s: s.encode()),
    _numbers.map(str.encode),
    st.sampled_from(["", " ", "ringing", "RINGING", "completed", "in-progress", "busy", "exploded", "null", "[]",
                     "{}", "1", "*", "#", "0", "9" * 40, "-1", "1e309", "+", "+1", "+999999999999999999999",
                     "client:", "client:agent-1", "sip:x@y", KNOWN_SID, "CA", "CA" + "z" * 40,
                     "Mon, 02 Jun 2025 14:00:42 +0000", "Mon, 99 Jun 2025 99:99:99 +9999", "\x00",
                     "https://example.com/r.wav", "javascript:alert(1)"]).map(str.encode),
    st.binary(max_size=12),  # not UTF-8 at all
    st.just("\ud800".encode("utf-8", "surrogatepass")),  # a lone surrogate, as bytes on the wire
    st.integers(1000, 20_000).map(lambda n: b"x" * n),  # huge
)
# Number-like text: str.isdigit() is true for "²" and "١٢", yet int() refuses "²" and anything over 4,300 digits.
_number_like: st.SearchStrategy[bytes] = st.sampled_from(
    ["0", "1", "007", "-1", "+1", "1.5", "1e3", " 1", "\u00b2", "\u0661\u0662", "\uff11", "9" * 40, "9" * 5000,
     "2147483648", "-9223372036854775809"]).map(str.encode) | _numbers.map(str.encode)
_keys: st.SearchStrategy[bytes] = st.one_of(
    st.sampled_from(TWILIO_FIELDS).map(str.encode),
    _nasty_text.map(lambda s: s.encode()),
    st.sampled_from([b"\x00", b"CallSid\x00", b"\xff", "\udc80".encode("utf-8", "surrogatepass")]),
)


def _encode(pairs: list[tuple[bytes, bytes]]) -> str:
    return "&".join(f"{quote_from_bytes(k, safe='')}={quote_from_bytes(v, safe='')}" for k, v in pairs)


@st.composite
def _requests(draw) -> tuple[str, str]:
    """(query string, url-encoded body): a base of plausible Twilio fields, then damage."""
    base = {"CallSid": draw(st.sampled_from([KNOWN_SID, "CA" + "8" * 32, ""])), "From": "+14155550123",
            "To": NUMBER, "CallStatus": "ringing", "Direction": "inbound"}
    pairs = [(k.encode(), v.encode()) for k, v in base.items()
             if not draw(st.booleans())]  # each plausible field may be missing
    pairs += [(name.encode(), draw(_number_like)) for name in NUMBER_FIELDS if draw(st.booleans())]
    pairs += draw(st.lists(st.tuples(_keys, _values), max_size=6))  # extra, replaced or repeated fields
    pairs = draw(st.permutations(pairs))
    query = [(name.encode(), draw(st.one_of(_number_like, _values))) for name in QUERY_FIELDS if draw(st.booleans())]
    query += draw(st.lists(st.tuples(st.sampled_from(QUERY_FIELDS).map(str.encode), _values), max_size=2))
    return _encode(query), _encode(pairs)


def _signed_post(client, path: str, query: str, body: str):
    """POST exactly `body`, signed over the fields the server will parse from it (as the carrier signs its own)."""
    url = f"http://localhost{path}" + (f"?{query}" if query else "")
    form = EnvironBuilder(path=path, method="POST", data=body, content_type=FORM).get_request().form
    signature = RequestValidator(AUTH_TOKEN).compute_signature(url, form)
    return client.post(path, query_string=query, data=body, content_type=FORM,
                       headers={"X-Twilio-Signature": signature})


def _call_row(database_url: str, call_sid: str) -> int:
    engine = sa.create_engine(database_url)
    try:
        with engine.connect() as connection:
            return connection.scalar(sa.text("SELECT count(*) FROM calls WHERE call_sid = :sid"), {"sid": call_sid})
    finally:
        engine.dispose()


def test_every_webhook_survives_signed_malformed_input(app, client, factory, webhook_paths, rows, logged_errors):
    factory.demo_line()
    opened = _signed_post(client, "/ivr/voice", "", _encode([(b"CallSid", KNOWN_SID.encode()),
                                                            (b"From", b"+14155550123"), (b"To", NUMBER.encode()),
                                                            (b"CallStatus", b"ringing")]))
    assert opened.status_code == 200  # one known call, so some requests reach a live call's state
    statuses: dict[str, set[int]] = {}

    @settings(suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                     HealthCheck.data_too_large])
    @given(request=_requests())
    def check(path: str, request: tuple[str, str]) -> None:
        query, body = request
        logged_errors.records.clear()
        before = rows()
        response = _signed_post(client, path, query, body)
        status = response.status_code
        statuses.setdefault(path, set()).add(status)
        assert status < 500, (path, status, response.get_data(as_text=True))
        assert not logged_errors.records, [f"{r.getMessage()}: {r.exc_info[1]!r}" if r.exc_info else r.getMessage()
                                           for r in logged_errors.records]
        if 400 <= status < 500:
            assert response.get_data(as_text=True).strip(), "a refusal says why"
            assert rows() == before, "a refused webhook wrote a call or an event"
        elif status == 204:
            assert path in ACKNOWLEDGED, path
            assert not response.data
        else:
            assert status == 200, status
            assert response.mimetype == "text/xml"
            assert ET.fromstring(response.data).tag == "Response"

    for path in webhook_paths:
        check(path)
    # The damage is not so thorough that every request is refused at the door: views ran and answered.
    assert sum(1 for codes in statuses.values() if codes & {200, 204}) == len(webhook_paths), statuses


def test_a_signed_webhook_with_a_nul_byte_gets_a_400_and_no_call(app, client, factory, database_url):
    """The classic PostgreSQL 500: NUL in a text column. Refused by the guard before the view opens the call."""
    factory.demo_line()
    sid = "CA" + "3" * 32
    response = _signed_post(client, "/ivr/voice", "", _encode([(b"CallSid", sid.encode()), (b"From", b"+1415\x00"),
                                                               (b"To", NUMBER.encode())]))
    assert response.status_code == 400
    assert "From" in response.get_data(as_text=True)
    assert _call_row(database_url, sid) == 0


# (path, query string, extra form field): numbers str.isdigit() accepts and int() refuses.
INT_REFUSES = [
    ("/ivr/voicemail", "", ("RecordingDuration", "\u00b2")),
    ("/ivr/voicemail", "", ("RecordingDuration", "9" * 5000)),
    ("/ivr/menu", "attempt=%C2%B2", None),
    ("/ivr/requeue", "queue=%C2%B2", None),
    ("/ivr/agent/answer", "agent=%C2%B2", None),
    ("/ivr/agent/rejoin", "agent=" + "9" * 5000, None),
    ("/ivr/agent/status", "agent=%C2%B2", ("CallStatus", "no-answer")),
]


def test_numbers_int_refuses_do_not_crash_a_webhook(app, client, factory, logged_errors):
    """Found by the fuzz above: the views checked str.isdigit() ("²" and "١٢" pass) then called int(), which refuses
    "²" and anything over 4,300 digits; fail_safe hid the crash behind "technical difficulties" (or a bare 204)."""
    factory.demo_line()
    pairs = [(b"CallSid", KNOWN_SID.encode()), (b"From", b"+14155550123"), (b"To", NUMBER.encode())]
    assert _signed_post(client, "/ivr/voice", "", _encode(pairs)).status_code == 200  # a live call
    for path, query, field in INT_REFUSES:
        extra = [(field[0].encode(), field[1].encode())] if field else []
        response = _signed_post(client, path, query, _encode(pairs + extra))
        assert response.status_code in (200, 204), path
        assert not logged_errors.records, (path, [repr(r.exc_info[1]) for r in logged_errors.records if r.exc_info])
        if response.status_code == 200:
            says = " ".join(e.text or "" for e in ET.fromstring(response.data).iter("Say"))
            assert "technical difficulties" not in says, path
