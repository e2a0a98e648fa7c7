"""Access tokens for the agents' browser softphones (Twilio Voice JS SDK, or the emulator's shim)."""

from __future__ import annotations

from twilio.jwt.access_token import AccessToken
from twilio.jwt.access_token.grants import VoiceGrant

MAX_TTL_SECONDS = 24 * 3600  # Twilio rejects access tokens valid for more than 24 hours.


def voice_token(
    *,
    account_sid: str,
    api_key: str,
    api_secret: str,
    identity: str,
    outgoing_application_sid: str | None,
    ttl: int = 3600,
) -> str:
    """A JWT letting `identity` receive calls (`client:identity`) and place calls through the TwiML app."""
    if not identity:
        raise ValueError("an access token needs an identity")
    if not 0 < ttl <= MAX_TTL_SECONDS:
        raise ValueError(f"token ttl must be between 1 and {MAX_TTL_SECONDS} seconds, not {ttl}")
    token = AccessToken(account_sid, api_key, api_secret, identity=identity, ttl=ttl)
    token.add_grant(VoiceGrant(incoming_allow=True, outgoing_application_sid=outgoing_application_sid))
    jwt = token.to_jwt()
    return jwt.decode() if isinstance(jwt, bytes) else jwt
