"""Media the product serves on behalf of the carrier (recordings): one response shape for the API and the pages."""

from __future__ import annotations

from typing import Any

from flask import Response


def private_audio(media: Any) -> Response:
    """The audio as a private, uncached response: it is a customer's voice, played only to those allowed."""
    response = Response(media.content, mimetype=media.content_type or "audio/wav")
    response.headers["Cache-Control"] = "private, no-store"
    return response
