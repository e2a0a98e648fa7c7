"""Telephony: one provider interface; Twilio in production, the embedded carrier emulator elsewhere."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    """Choose and bind the provider (filled in by the telephony work)."""
