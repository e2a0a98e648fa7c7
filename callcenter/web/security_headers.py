"""Headers every response carries, so a browser refuses what the product never does on purpose.

Content-Security-Policy: scripts, styles, images and fonts from this server only (no inline script: the pages
load theirs from static files), sockets to this server (its ws:/wss: origin), and no page of the product inside
another site's frame (frame-ancestors 'none'; the product embeds none of its own). Inline `style` attributes and
`<style>` blocks are allowed: the templates use them and they cannot run code. With Twilio, the Voice SDK also
talks to Twilio's signalling and event servers and plays ringtones from Twilio's SDK host.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Flask, Response

# What the Voice JS SDK 2.x reaches (signalling wss://voice-js.*.twilio.com, insights, event gateway; sounds).
TWILIO_CONNECT = ("wss://*.twilio.com", "https://*.twilio.com")
TWILIO_MEDIA = ("https://sdk.twilio.com", "https://media.twiliocdn.com")


def socket_origins(public_base_url: str) -> list[str]:
    """The Socket.IO origin of this server, as CSP spells it (older browsers do not cover ws: by 'self')."""
    parts = urlsplit(public_base_url)
    if not parts.netloc:
        return []
    return [f"{'wss' if parts.scheme == 'https' else 'ws'}://{parts.netloc}"]


def content_security_policy(public_base_url: str, twilio: bool) -> str:
    connect = ["'self'", *socket_origins(public_base_url), *(TWILIO_CONNECT if twilio else ())]
    media = ["'self'", "blob:", *(TWILIO_MEDIA if twilio else ())]
    directives = {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'", "'unsafe-inline'"],
        "img-src": ["'self'", "data:"],
        "font-src": ["'self'"],
        "connect-src": connect,
        "media-src": media,
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
    return "; ".join(f"{name} {' '.join(values)}" for name, values in directives.items())


def init_app(app: Flask) -> None:
    policy: dict[str, str] = {}

    @app.after_request
    def _security_headers(response: Response) -> Response:
        if not policy:  # the provider is known once the app is built
            from callcenter.telephony import get_provider

            try:
                twilio = get_provider(app).name != "sim"
            except RuntimeError:  # no telephony in this app: nothing of Twilio's to allow
                twilio = False
            policy["csp"] = content_security_policy(app.config["PUBLIC_BASE_URL"], twilio)
        response.headers.setdefault("Content-Security-Policy", policy["csp"])
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        return response
