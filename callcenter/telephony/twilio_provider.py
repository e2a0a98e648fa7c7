"""The provider on the real Twilio SDK: REST calls, conference participants, tokens, webhook signatures.

The embedded carrier emulator speaks Twilio's REST API under `/sim`, so emulator mode is this same class with
another base URL (and, in tests, an in-process HTTP client): the product's code path is identical in both modes.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

import requests
from requests.adapters import HTTPAdapter
from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.http import HttpClient
from twilio.http.http_client import TwilioHttpClient
from twilio.request_validator import RequestValidator, compare
from twilio.rest import Client
from urllib3.util.retry import Retry

from callcenter.telephony import tokens
from callcenter.telephony.base import (
    ALL_CALL_EVENTS,
    RECORDING_EVENTS,
    CallInfo,
    ConferenceInfo,
    Media,
    MessageInfo,
    ParticipantInfo,
    RecordingInfo,
    TelephonyError,
    WebhookParams,
)

REST_TIMEOUT_SECONDS = 15.0
MACHINE_DETECTION_MODES = ("Enable", "DetectMessageEnd")
LIVE_CONFERENCE_STATUSES = ("in-progress", "init")
# How many of our latest texts to a number a retried send looks through for the one whose answer it lost.
RECENT_MESSAGES = 20


@contextmanager
def _carrier(action: str) -> Iterator[None]:
    """Turn SDK and transport failures into TelephonyError, saying what we were doing."""
    try:
        yield
    except TwilioRestException as exc:
        raise TelephonyError(f"{action} failed: {exc.msg}", status=exc.status, code=exc.code) from exc
    except (TwilioException, OSError) as exc:  # OSError covers requests' connection errors and timeouts
        raise TelephonyError(f"{action} failed: {exc}") from exc


class _Fields:
    """Every value of every webhook field, in the shape RequestValidator reads (`getlist`)."""

    def __init__(self, params: Mapping[str, str | Sequence[str]]) -> None:
        getlist = getattr(params, "getlist", None)
        self._values: dict[str, list[str]] = {}
        for name in params:
            values = getlist(name) if getlist else params[name]
            self._values[name] = [values] if isinstance(values, str) else [str(v) for v in values]

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def getlist(self, name: str) -> list[str]:
        return self._values[name]


def _call_info(call: Any) -> CallInfo:
    return CallInfo(
        sid=call.sid,
        status=call.status,
        direction=call.direction,
        from_number=getattr(call, "_from", None),  # the SDK keeps "from" as `_from` (a keyword)
        to_number=call.to,
        parent_call_sid=call.parent_call_sid,
    )


def _participant_info(participant: Any) -> ParticipantInfo:
    return ParticipantInfo(
        call_sid=participant.call_sid,
        conference_sid=participant.conference_sid,
        status=participant.status,
        label=participant.label,
        muted=bool(participant.muted),
        hold=bool(participant.hold),
        coaching=bool(participant.coaching),
        call_sid_to_coach=participant.call_sid_to_coach,
    )


def _conference_info(conference: Any) -> ConferenceInfo:
    return ConferenceInfo(sid=conference.sid, friendly_name=conference.friendly_name, status=conference.status)


def _present(**values: Any) -> dict[str, Any]:
    """Only the parameters we mean to send; Twilio's defaults apply to the rest."""
    return {name: value for name, value in values.items() if value is not None}


REST_CONNECTIONS = 64
# A connection the carrier refused or reset while it was being opened carried no request, so trying again cannot
# place a call twice; a request sent and then lost (a read timeout) is never retried here.
CONNECT_RETRIES = Retry(total=2, connect=2, read=0, status=0, other=0, redirect=0, backoff_factor=0.1)


def _decide_proxies_once(client: TwilioHttpClient, base_url: str) -> None:
    """Take the proxy (and CA bundle) settings from the environment now, for the one host this client talks to.

    requests reads them again on every call: it walks the whole environment twice per REST call, about a tenth of the
    call's CPU in a web worker that rings and redirects legs all day. The variables are the same ones
    (HTTPS_PROXY, NO_PROXY, REQUESTS_CA_BUNDLE...), read when the provider is built."""
    session = client.session
    if session is None:
        return
    session.proxies.update(requests.utils.get_environ_proxies(base_url))
    ca_bundle = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")
    if ca_bundle:
        session.verify = ca_bundle
    session.trust_env = False


def _pooled_http_client() -> TwilioHttpClient:
    """The SDK's HTTP client keeping up to REST_CONNECTIONS connections alive: a web process rings and redirects
    many legs at once, and requests' default pool of 10 made every call beyond it open (and drop) a connection.
    Failures to connect are tried again (CONNECT_RETRIES)."""
    client = TwilioHttpClient(timeout=REST_TIMEOUT_SECONDS)
    if client.session is not None:
        for prefix in ("https://", "http://"):
            client.session.mount(prefix, HTTPAdapter(pool_connections=4, pool_maxsize=REST_CONNECTIONS,
                                                     max_retries=CONNECT_RETRIES))
    return client


class TwilioProvider:
    """`Provider` on `twilio.rest.Client`; `base_url` and `http_client` point it at the emulator."""

    def __init__(
        self,
        *,
        account_sid: str,
        auth_token: str,
        api_key: str | None = None,
        api_secret: str | None = None,
        twiml_app_sid: str | None = None,
        http_client: HttpClient | None = None,
        base_url: str | None = None,
        name: str = "twilio",
    ) -> None:
        self.name = name
        self.account_sid = account_sid
        self._auth_token = auth_token
        self._api_key = api_key
        self._api_secret = api_secret
        self._twiml_app_sid = twiml_app_sid
        self._client = Client(
            account_sid,
            auth_token,
            account_sid=account_sid,
            http_client=http_client or _pooled_http_client(),
        )
        if base_url:
            # The SDK would rewrite the host for an edge or region: never for the emulator.
            self._client.edge = None
            self._client.region = None
            self._client.api.base_url = base_url.rstrip("/")
        if http_client is None:
            _decide_proxies_once(self._client.http_client, self._client.api.base_url)
        self._account = self._client.api.v2010.accounts(account_sid)

    # Calls

    def place_call(
        self,
        to: str,
        from_: str,
        *,
        url: str | None = None,
        twiml: str | None = None,
        status_callback: str | None = None,
        status_callback_events: Sequence[str] = ALL_CALL_EVENTS,
        machine_detection: str | None = None,
        async_amd: bool = False,
        async_amd_status_callback: str | None = None,
        timeout: int | None = None,
        record: bool = False,
    ) -> CallInfo:
        """Create an outbound call (`POST .../Calls.json`)."""
        if (url is None) == (twiml is None):
            raise ValueError("place_call needs exactly one of url or twiml")
        if machine_detection is not None and machine_detection not in MACHINE_DETECTION_MODES:
            raise ValueError(f"machine_detection must be one of {MACHINE_DETECTION_MODES}")
        options = _present(
            url=url,
            twiml=twiml,
            status_callback=status_callback,
            status_callback_event=list(status_callback_events) if status_callback else None,
            status_callback_method="POST" if status_callback else None,
            machine_detection=machine_detection,
            async_amd="true" if machine_detection and async_amd else None,
            async_amd_status_callback=async_amd_status_callback if machine_detection and async_amd else None,
            async_amd_status_callback_method="POST" if machine_detection and async_amd_status_callback else None,
            timeout=timeout,
            record=True if record else None,
        )
        with _carrier(f"Calling {to}"):
            return _call_info(self._account.calls.create(to=to, from_=from_, **options))

    def get_call(self, call_sid: str) -> CallInfo:
        """Fetch a call (`GET .../Calls/{Sid}.json`)."""
        with _carrier(f"Fetching call {call_sid}"):
            return _call_info(self._account.calls(call_sid).fetch())

    def redirect_call(self, call_sid: str, *, twiml: str | None = None, url: str | None = None) -> CallInfo:
        """Give a live call new instructions (`POST .../Calls/{Sid}.json` with Twiml or Url)."""
        if (url is None) == (twiml is None):
            raise ValueError("redirect_call needs exactly one of url or twiml")
        options = _present(twiml=twiml, url=url, method="POST" if url else None)
        with _carrier(f"Redirecting call {call_sid}"):
            return _call_info(self._account.calls(call_sid).update(**options))

    def end_call(self, call_sid: str) -> CallInfo:
        """Hang up (`Status=completed` ends a call whether ringing or answered)."""
        with _carrier(f"Ending call {call_sid}"):
            return _call_info(self._account.calls(call_sid).update(status="completed"))

    # Conferences

    def find_conference(self, friendly_name: str) -> ConferenceInfo | None:
        """Look up the live conference by name: in progress first, then one still starting."""
        with _carrier(f"Finding conference {friendly_name}"):
            for status in LIVE_CONFERENCE_STATUSES:
                found = self._account.conferences.list(friendly_name=friendly_name, status=status, limit=1)
                if found:
                    return _conference_info(found[0])
        return None

    def add_participant(
        self,
        conference: str,
        *,
        from_: str,
        to: str,
        label: str | None = None,
        early_media: bool = True,
        beep: str | bool = False,
        start_conference_on_enter: bool = True,
        end_conference_on_exit: bool = False,
        muted: bool = False,
        coaching: bool = False,
        call_sid_to_coach: str | None = None,
        timeout: int | None = None,
        status_callback: str | None = None,
        status_callback_events: Sequence[str] = (),
    ) -> ParticipantInfo:
        """Dial a new participant into a conference (`POST .../Participants.json`)."""
        if coaching and not call_sid_to_coach:
            raise ValueError("coaching needs call_sid_to_coach")
        options = _present(
            label=label,
            early_media=early_media,
            beep=("true" if beep else "false") if isinstance(beep, bool) else beep,
            start_conference_on_enter=start_conference_on_enter,
            end_conference_on_exit=end_conference_on_exit,
            muted=muted,
            coaching=True if coaching else None,
            call_sid_to_coach=call_sid_to_coach if coaching else None,
            timeout=timeout,
            status_callback=status_callback,
            status_callback_method="POST" if status_callback else None,
            status_callback_event=list(status_callback_events) if status_callback and status_callback_events
            else None,
        )
        with _carrier(f"Adding {to} to conference {conference}"):
            participant = self._account.conferences(conference).participants.create(from_=from_, to=to, **options)
            return _participant_info(participant)

    def _update_participant(self, conference_sid: str, call_sid: str, action: str, **changes: Any) -> ParticipantInfo:
        with _carrier(f"{action} {call_sid} in conference {conference_sid}"):
            participant = self._account.conferences(conference_sid).participants(call_sid).update(**changes)
            return _participant_info(participant)

    def hold_participant(
        self, conference_sid: str, call_sid: str, hold: bool = True, hold_url: str | None = None
    ) -> ParticipantInfo:
        """Hold (with music from `hold_url`) or resume a participant."""
        changes = _present(hold=hold, hold_url=hold_url if hold else None, hold_method="GET" if hold and hold_url
                           else None)
        return self._update_participant(conference_sid, call_sid, "Holding" if hold else "Resuming", **changes)

    def mute_participant(self, conference_sid: str, call_sid: str, muted: bool = True) -> ParticipantInfo:
        """Mute or unmute a participant."""
        return self._update_participant(conference_sid, call_sid, "Muting" if muted else "Unmuting", muted=muted)

    def coach_participant(
        self, conference_sid: str, call_sid: str, call_sid_to_coach: str | None
    ) -> ParticipantInfo:
        """Coaching=true + CallSidToCoach whispers to one participant; Coaching=false speaks to all (barge)."""
        if call_sid_to_coach:
            return self._update_participant(
                conference_sid, call_sid, "Coaching", coaching=True, call_sid_to_coach=call_sid_to_coach
            )
        return self._update_participant(conference_sid, call_sid, "Ending coaching of", coaching=False)

    def remove_participant(self, conference_sid: str, call_sid: str) -> None:
        """Remove a participant (`DELETE .../Participants/{CallSid}.json`)."""
        with _carrier(f"Removing {call_sid} from conference {conference_sid}"):
            self._account.conferences(conference_sid).participants(call_sid).delete()

    def end_conference(self, conference_sid: str) -> ConferenceInfo:
        """End the conference (`Status=completed`), disconnecting everyone."""
        with _carrier(f"Ending conference {conference_sid}"):
            return _conference_info(self._account.conferences(conference_sid).update(status="completed"))

    # Recordings

    def start_recording(self, call_sid: str, *, status_callback: str,
                        status_callback_events: Sequence[str] = RECORDING_EVENTS) -> RecordingInfo:
        """Start a call recording (`POST .../Calls/{Sid}/Recordings.json`)."""
        with _carrier(f"Recording call {call_sid}"):
            recording = self._account.calls(call_sid).recordings.create(
                recording_status_callback=status_callback, recording_status_callback_method="POST",
                recording_status_callback_event=list(status_callback_events))
        return RecordingInfo(sid=recording.sid, call_sid=recording.call_sid, status=recording.status)

    def set_recording_status(self, call_sid: str, recording_sid: str, status: str) -> RecordingInfo:
        """Pause, resume or stop (`POST .../Calls/{Sid}/Recordings/{Sid}.json` with Status)."""
        with _carrier(f"Setting recording {recording_sid} to {status}"):
            recording = self._account.calls(call_sid).recordings(recording_sid).update(status=status)
        return RecordingInfo(sid=recording.sid, call_sid=recording.call_sid, status=recording.status)

    def recording_media(self, media_url: str) -> Media:
        """GET the media with the account's credentials; only URLs on this provider's API host (the
        credentials never go anywhere else, whatever a stored URL says)."""
        base = self._client.api.base_url.rstrip("/") + "/"
        if not media_url.startswith(base):
            raise TelephonyError(f"{media_url} is not a recording of this carrier")
        auth = (self.account_sid, self._auth_token)
        fetch_bytes = getattr(self._client.http_client, "fetch_bytes", None)
        try:
            if fetch_bytes is not None:  # the in-process emulator client
                status, content, content_type = fetch_bytes(media_url, auth)
            else:
                session = getattr(self._client.http_client, "session", None) or requests.Session()
                answer = session.get(media_url, auth=auth, timeout=REST_TIMEOUT_SECONDS)
                status, content = answer.status_code, answer.content
                content_type = answer.headers.get("Content-Type", "audio/wav")
        except OSError as exc:
            raise TelephonyError(f"Fetching recording media failed: {exc}") from exc
        if status != 200:
            raise TelephonyError(f"Fetching recording media failed: HTTP {status}", status=status)
        return Media(content=content, content_type=content_type)

    # Messages

    def send_message(self, to: str, from_: str, body: str, status_callback: str | None = None) -> MessageInfo:
        """Send an SMS (`POST .../Messages.json`)."""
        with _carrier(f"Texting {to}"):
            message = self._account.messages.create(to=to, from_=from_, body=body,
                                                    **_present(status_callback=status_callback))
        return MessageInfo(sid=message.sid, status=message.status, to=message.to,
                           from_=message.from_, body=message.body, error_code=message.error_code)

    def find_message(self, to: str, from_: str, body: str, created_after: datetime) -> MessageInfo | None:
        """Our latest texts to `to` (`GET .../Messages.json?To=&From=`, newest first): the one with this body
        created since `created_after`, if any."""
        with _carrier(f"Looking up texts to {to}"):
            recent = self._account.messages.list(to=to, from_=from_, limit=RECENT_MESSAGES)
        for message in recent:
            if message.body == body and message.date_created is not None and message.date_created >= created_after:
                return MessageInfo(sid=message.sid, status=message.status, to=message.to, from_=message.from_,
                                   body=message.body, error_code=message.error_code)
        return None

    # Tokens and signatures

    def create_access_token(self, identity: str, ttl: int = 3600) -> str:
        """A Voice access token signed with the API key (Twilio rejects tokens signed with the auth token)."""
        if not (self._api_key and self._api_secret):
            raise TelephonyError("Browser softphones need TWILIO_API_KEY and TWILIO_API_SECRET to be set")
        return tokens.voice_token(
            account_sid=self.account_sid,
            api_key=self._api_key,
            api_secret=self._api_secret,
            identity=identity,
            outgoing_application_sid=self._twiml_app_sid,
            ttl=ttl,
        )

    def validate_webhook(self, url: str, params: WebhookParams, signature: str) -> bool:
        """Check X-Twilio-Signature over the URL and every field received (or the JSON body's hash)."""
        if not signature:
            return False
        if isinstance(params, str) and "bodySHA256" not in parse_qs(urlsplit(url).query):
            return False  # a raw body is only signed through the bodySHA256 query parameter
        validator = RequestValidator(self._auth_token)
        if isinstance(params, str):
            return validator.validate(url, params, signature)
        fields = _Fields(params)
        # The URL as received is one of the two that validate() signs (with and without the port), every time:
        # checked first, a genuine webhook costs one HMAC instead of two, at every request of every call.
        if compare(validator.compute_signature(url, fields), signature):
            return True
        return validator.validate(url, fields, signature)
