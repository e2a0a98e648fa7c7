"""The agent softphone console and the supervisor wallboard."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    """Register the console and wallboard pages (added by the console work)."""
