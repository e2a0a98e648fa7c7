"""The carrier's REST client tries again when it could not connect (no request left us, so no call can be placed
twice), and never when a request went out and its answer was lost."""

from __future__ import annotations

import pytest
from urllib3.exceptions import MaxRetryError, NewConnectionError, ReadTimeoutError

from callcenter.telephony.twilio_provider import _pooled_http_client

CALLS = "/2010-04-01/Accounts/AC1/Calls.json"


def _retry():
    return _pooled_http_client().session.get_adapter("https://api.twilio.com").max_retries


def test_a_refused_or_reset_connection_is_tried_twice_more():
    retry = _retry()
    for _ in range(2):
        retry = retry.increment(method="POST", url=CALLS, error=NewConnectionError(None, "Connection reset by peer"))
    with pytest.raises(MaxRetryError):
        retry.increment(method="POST", url=CALLS, error=NewConnectionError(None, "Connection refused"))


def test_a_request_sent_and_then_timed_out_is_not_sent_again():
    with pytest.raises((ReadTimeoutError, MaxRetryError)):
        _retry().increment(method="POST", url=CALLS, error=ReadTimeoutError(None, CALLS, "read timed out"))
    assert _retry().is_retry("POST", 503) is False  # a carrier error answer is the caller's to handle
