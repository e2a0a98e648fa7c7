"""Voice webhooks the carrier calls: IVR, queue wait, agent connect, status callbacks (TwiML out)."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    """Register the voice webhooks (added by the telephony and inbound work)."""
