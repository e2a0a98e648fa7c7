"""Where the carrier calls us back, built from the app's config at the edges and handed to services as values.

Every URL given to the carrier is absolute on PUBLIC_BASE_URL, the base the webhook signature check
(`ivr.guard`) rebuilds. Services never read the config: the edge that calls them passes these URLs, the
`webhook_url` builder itself, our caller ID, or `join_twiml`.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from flask import current_app

from callcenter.telephony import twiml


def with_query(url: str, **params: Any) -> str:
    """`url` with `params` added to (or replacing in) its query string; None values are left out."""
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k not in params]
    query += [(k, str(v)) for k, v in params.items() if v is not None]
    return urlunsplit(parts._replace(query=urlencode(query)))


def webhook_url(path: str, **query: Any) -> str:
    """An absolute voice webhook URL under /ivr, as the carrier must call it back."""
    return with_query(f"{current_app.config['PUBLIC_BASE_URL']}/ivr{path}", **query)


def join_twiml(name: str, end_on_exit: bool) -> str:
    """The TwiML that puts a leg into a conference, its events posted to /ivr/conference/status."""
    return twiml.join_conference(name, end_on_exit=end_on_exit,
                                 status_callback=webhook_url("/conference/status")).to_xml()


def caller_ids() -> list[str]:
    """Our numbers an outbound call (an agent's, a campaign's) may show: CALLER_IDS, then those admins marked as
    caller IDs on the numbers page; the first is the default."""
    from callcenter.extensions import db
    from callcenter.services import admin_routing

    return admin_routing.caller_ids(db.session, current_app.config["CALLER_IDS"])


def caller_id() -> str:
    """The number our outbound legs show when nothing more specific applies (OUTBOUND_CALLER_ID)."""
    return current_app.config["OUTBOUND_CALLER_ID"]
