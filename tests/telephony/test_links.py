"""The URLs and TwiML the edges hand to services so the carrier can call us back."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from urllib.parse import parse_qs, urlsplit

from flask import Flask

from callcenter.telephony import links


def test_with_query_replaces_existing_parameters():
    url = links.with_query("https://cc/ivr/menu?node=a&attempt=1&call=CA1", node="b", attempt=0)
    assert parse_qs(urlsplit(url).query) == {"call": ["CA1"], "node": ["b"], "attempt": ["0"]}


def test_webhook_urls_are_absolute_on_the_public_base_url():
    app = Flask(__name__)
    app.config["PUBLIC_BASE_URL"] = "https://cc.example.com"
    with app.app_context():
        url = links.webhook_url("/agent/answer", entry="CA1", agent=7)
        join = ET.fromstring(links.join_twiml("interaction-CA1", False))
    assert url == "https://cc.example.com/ivr/agent/answer?entry=CA1&agent=7"
    conference = join.find("Dial/Conference")
    assert conference.text == "interaction-CA1"
    assert conference.attrib["endConferenceOnExit"] == "false"
    assert conference.attrib["statusCallback"] == "https://cc.example.com/ivr/conference/status"
